"""The processes the soak test runs and hurts: a persistent redis-server and a
`basketry serve --processes 2` supervisor with its workers; what /proc and /metrics say of them.

Redis runs with `appendonly yes` and `appendfsync always`: an acknowledged write is on disk
before the reply, so a SIGKILL loses no accepted order. That is the production requirement
behind the "no accepted order is lost" guarantee (with `appendfsync everysec`, Redis's
default for AOF, a crash may lose up to a second of acknowledged writes).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

START_TIMEOUT = 120.0  # seconds: two interpreters loading a snapshot on a busy machine
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    """Poll `condition()` every 0.1 s until true; RuntimeError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.1)


class PersistentRedis:
    """redis-server on a free loopback port, its append-only file in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def start(self) -> None:
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
        ]  # fmt: skip
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = self.client()
        try:
            wait_until(f"redis-server on port {self.port}", lambda: _pings(client), 10.0)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class SupervisedServer:
    """`basketry serve --processes 2 --redis-url …`; its log (supervisor and workers) in a file."""

    def __init__(self, snapshot_dir: Path, redis_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log_path = log_path
        command = [
            sys.executable, "-m", "basketry.cli.main", "serve",
            "--snapshot-dir", str(snapshot_dir),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--metrics-port", str(self.metrics_port),
            "--processes", "2",
            "--redis-url", redis_url,
        ]  # fmt: skip
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_for_log(r"all 2 workers serving")
        except BaseException:
            self.kill()
            raise

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = START_TIMEOUT) -> None:
        def logged() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}); log: {self.log_path}"
                )
            return re.search(pattern, self.log_text()) is not None

        wait_until(f"server log line {pattern!r}", logged, timeout)

    def worker_pids(self) -> list[int]:
        """The supervisor's live child processes (its workers), from /proc."""
        return sorted(children_of(self.process.pid))

    def scrape(self) -> Samples:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> int:
        """SIGTERM the supervisor (it drains its workers); its exit code (-9 if it had to be
        killed after START_TIMEOUT)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return -signal.SIGKILL

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def children_of(parent: int) -> set[int]:
    """Pids whose parent is `parent` (field 4 of /proc/PID/stat)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def connections_of(pid: int, port: int) -> int:
    """Established TCP connections on local `port` whose socket `pid` holds."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            held.add(link[len("socket:[") : -1])
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                established.add(fields[9])
    return len(held & established)


def metric_sum(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def serving_versions(samples: Samples) -> set[str]:
    """Versions some live worker serves now (basketry_snapshot_info at 1)."""
    return {
        dict(labels)["version"]
        for (name, labels), value in samples.items()
        if name == "basketry_snapshot_info" and value == 1
    }
