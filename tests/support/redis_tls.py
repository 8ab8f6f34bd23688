"""A real `redis-server` speaking TLS only, with an ACL user, for the Redis security tests.

No plaintext port (`--port 0`), the `default` user off, one user limited to the `basketry:`
keys and channels without the dangerous commands, and client certificates required (the
same CA signs Redis's certificate and the client's). Debian's redis-server 7 has TLS built in.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import trustme
from redis.backoff import NoBackoff
from redis.retry import Retry

from basketry.snapshot.redis_connection import RedisTls
from support.redis_server import START_TIMEOUT, _free_port
from support.tls_files import TlsFiles, issue

USER = "basketry"
# What Basketry needs: its own keys and announcement channel, no admin commands.
ACL_RULES = "~basketry:* &basketry:* +@all -@dangerous"


class TlsRedisServer:
    def __init__(self, binary: str, directory: Path, ca: trustme.CA, *, password: str) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.port = _free_port()
        self.server_files = issue(ca, directory / "tls", "redis-server")
        self.client_files: TlsFiles = issue(ca, directory / "tls", "redis-client")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The user but not the password: that comes from the environment or settings."""
        return f"rediss://{USER}@127.0.0.1:{self.port}/0"

    @property
    def tls(self) -> RedisTls:
        """The files a client needs: the CA, and the client certificate Redis asks for."""
        return RedisTls(self.client_files.ca, self.client_files.cert, self.client_files.key)

    def start(self) -> None:
        acl_file = self.directory / "users.acl"
        acl_file.write_text(f"user default off\nuser {USER} on >{self.password} {ACL_RULES}\n")
        files = self.server_files
        command = [
            self.binary,
            "--port", "0",
            "--tls-port", str(self.port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(files.cert),
            "--tls-key-file", str(files.key),
            "--tls-ca-cert-file", str(files.ca),
            "--tls-auth-clients", "yes",
            "--aclfile", str(acl_file),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_answering()

    def client(self, *, retries: int = 1) -> redis.Redis:
        """A client logged in as the ACL user, over TLS with the client certificate."""
        return redis.Redis.from_url(
            self.url,
            password=self.password,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), retries=retries),
            decode_responses=True,
            **self.tls.connection_options(),
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def _wait_until_answering(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client(retries=0)  # this loop is the retry
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self._process.returncode}")
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"TLS redis-server not answering on port {self.port} after "
                            f"{START_TIMEOUT}s"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()
