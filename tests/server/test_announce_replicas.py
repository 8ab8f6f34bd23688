"""Replicas sharing one Redis converge on an announced snapshot long before their next poll,
and a listener cut off by a Redis restart reconnects and catches up."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import redis
from support.redis_server import RedisServer
from support.servers import running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.snapshot import read_latest_version
from basketry.snapshot.announce import announce
from basketry.snapshot.writer import point_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

BASKETRY = Path(sys.executable).parent / "basketry"
DEADLINE = 20.0
# Far longer than any test waits: a switch within DEADLINE can only come from an announcement.
POLL_INTERVAL = "600"


class ServeProcess:
    """`basketry serve` in a subprocess; its stderr is collected by a thread."""

    def __init__(self, snapshot_dir: Path, redis_url: str) -> None:
        self.process = subprocess.Popen(
            [
                str(BASKETRY), "serve",
                "--snapshot-dir", str(snapshot_dir),
                "--port", "0",
                "--metrics-port", "0",
                "--poll-interval", POLL_INTERVAL,
                "--redis-url", redis_url,
            ],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def target(self) -> str:
        _wait_for(lambda: "listening on" in self.log, f"the server to listen:\n{self.log}")
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", self.log)
        assert match, self.log
        return match.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)


@contextmanager
def serve_processes(count: int, snapshot_dir: Path, redis_url: str) -> Iterator[list[ServeProcess]]:
    with ExitStack() as stack:
        processes = []
        for _ in range(count):
            process = ServeProcess(snapshot_dir, redis_url)
            stack.callback(process.stop)
            processes.append(process)
        yield processes


def _serving_version(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        return str(stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5).model_version)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_server_processes_converge_on_an_announced_snapshot(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    directory = tmp_path / "snapshots"
    first = publish_synthetic_snapshot(directory, seed=1).name
    with serve_processes(2, directory, redis_server.url) as servers:
        targets = [server.target() for server in servers]
        _wait_for(
            lambda: all("subscribed to snapshot announcements" in s.log for s in servers),
            "both replicas to subscribe",
        )
        assert [_serving_version(t) for t in targets] == [first, first]

        second = publish_synthetic_snapshot(directory, seed=2).name
        assert read_latest_version(directory) == second
        result = subprocess.run(
            [str(BASKETRY), "publish", "--snapshot-dir", str(directory), "--version", second,
             "--redis-url", redis_server.url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "(2 server(s) listening)" in result.stderr

        _wait_for(
            lambda: [_serving_version(t) for t in targets] == [second, second],
            "both replicas to serve the announced version",
        )
        for server in servers:
            assert f"serving snapshot {second}" in server.log


def test_listener_reconnects_after_a_redis_restart_and_catches_up(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    directory = tmp_path / "snapshots"
    first = publish_synthetic_snapshot(directory, seed=1).name
    second = publish_synthetic_snapshot(directory, seed=2).name
    point_latest(directory, first)
    with running_server(directory, redis_url=redis_server.url, poll_interval=600) as server:
        assert _serving_version(server.target) == first
        registry = server.server.metrics.registry

        def connected() -> float | None:
            return registry.get_sample_value("basketry_snapshot_announcements_connected")

        _wait_for(lambda: connected() == 1, "the first subscription")

        redis_server.kill()
        _wait_for(lambda: connected() == 0, "the listener to notice")
        point_latest(directory, second)
        redis_server.start()
        # Announced while the listener may still be reconnecting: either the message or the
        # key it reads on resubscribing must bring it to the new version.
        with redis.Redis.from_url(redis_server.url) as publisher:
            announce(publisher, second)
        _wait_for(lambda: _serving_version(server.target) == second, "the announced version")
        assert connected() == 1
