"""A real `redis-server` (the Debian package) on a free loopback port, for tests.

No persistence by default (`--save ""`, no append-only file): every server starts empty.
`kill()` and `start()` again on the same port stand in for Redis dying and coming back.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT = 5.0


def require_redis_server() -> str:
    """The redis-server binary; skips the test without it, fails it in CI (CI=true)."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server not on PATH (Debian: apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Redis tests")
        pytest.skip(reason)
    return binary


class RedisServer:
    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        appendonly: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.appendonly = appendonly
        self.extra_args = extra_args  # e.g. ("--requirepass", "secret")
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            *self.extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        client = redis.Redis(
            port=self.port,
            socket_connect_timeout=0.2,
            socket_timeout=0.2,
            retry=Retry(NoBackoff(), retries=0),  # this loop is the retry
        )
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self._process.returncode}")
                try:
                    client.ping()
                    return
                except redis.AuthenticationError:
                    return  # answering, and asking for the password it was started with
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server not answering on port {self.port} after {START_TIMEOUT}s"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
