"""`basketry serve --processes 2` as real processes on real loopback ports: exact totals over
both workers, a snapshot swap in every worker, drain on SIGTERM, restart after SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.synthetic import publish_synthetic_snapshot

from basketry.server.settings import ServerSettings
from basketry.server.supervisor import Supervisor
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

BASKETRY = Path(sys.executable).parent / "basketry"
CHANNELS = 8  # SO_REUSEPORT spreads connections, not calls: several of them reach both
DEADLINE = 120.0  # generous: shared CI machines, two interpreters starting at once

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Supervised:
    """A `basketry serve --processes 2` process whose log is read as it comes."""

    def __init__(self, snapshot_dir: Path) -> None:
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [
                str(BASKETRY),
                "serve",
                "--snapshot-dir",
                str(snapshot_dir),
                "--port",
                "0",
                "--metrics-port",
                str(self.metrics_port),
                "--processes",
                "2",
                "--poll-interval",
                "0.1",
                "--grace",
                "5",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        # Drained all along, so the workers never block on a full log pipe.
        threading.Thread(target=self._read_log, daemon=True).start()
        self.target = (
            "127.0.0.1:" + self.wait_for(r"all 2 workers serving on 127\.0\.0\.1:(\d+)")[1]
        )

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of the log
            self._changed.notify_all()

    def wait_for(self, pattern: str, *, after: int = 0) -> re.Match[str]:
        """The first log line from line `after` on that matches `pattern`."""
        deadline = time.monotonic() + DEADLINE
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    match = re.search(pattern, line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                assert remaining > 0 and self.lines[-1:] != [""], (
                    f"no log line matches {pattern!r}:\n" + "".join(self.lines)
                )
                self._changed.wait(remaining)

    def worker_pids(self) -> dict[int, int]:
        """The latest pid of each worker, from the supervisor's log."""
        with self._changed:
            lines = list(self.lines)
        pids = {}
        for line in lines:
            match = re.search(r"worker (\d+) started \(pid (\d+)\)", line)
            if match:
                pids[int(match[1])] = int(match[2])
        return pids

    def scrape(self) -> Samples:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=DEADLINE)
        self.wait_for("^$")  # the whole log read
        return code, "".join(self.lines)


@contextmanager
def supervised(snapshot_dir: Path) -> Iterator[Supervised]:
    server = Supervised(snapshot_dir)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@contextmanager
def stubs(target: str, count: int) -> Iterator[list[recommender_pb2_grpc.RecommenderServiceStub]]:
    """`count` stubs, each on its own connection (channels share one by default)."""
    with ExitStack() as stack:
        channels = [
            stack.enter_context(
                grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            )
            for _ in range(count)
        ]
        yield [recommender_pb2_grpc.RecommenderServiceStub(channel) for channel in channels]


def requests_by_method_and_code(samples: Samples) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for (name, labels), value in samples.items():
        if name == "basketry_requests_total":
            label = dict(labels)
            totals[label["method"], label["code"]] += value
    return dict(totals)


def send_calls(
    all_stubs: list[recommender_pb2_grpc.RecommenderServiceStub], per_stub: int
) -> tuple[int, int]:
    """`per_stub` good Recommend calls and one invalid one on each stub; (good, invalid)."""
    for stub in all_stubs:
        for n in range(per_stub):
            customer = f"c{n % 50:04d}"
            assert stub.Recommend(pb.RecommendRequest(customer_id=customer), timeout=30).items
        with pytest.raises(grpc.RpcError) as refused:
            stub.Recommend(pb.RecommendRequest(), timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return per_stub * len(all_stubs), len(all_stubs)


def connections_served_by(pid: int, port: int) -> int:
    """Established TCP connections on local `port` whose socket this process holds."""
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


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_two_workers_sum_exactly_swap_together_and_drain(snapshot_dir: Path) -> None:
    with supervised(snapshot_dir) as server, stubs(server.target, CHANNELS) as all_stubs:
        good, invalid = send_calls(all_stubs, per_stub=5)
        port = int(server.target.rsplit(":", 1)[1])
        pids = server.worker_pids()
        assert sorted(pids) == [0, 1]
        served = {index: connections_served_by(pid, port) for index, pid in pids.items()}
        assert sum(served.values()) == CHANNELS and all(served.values()), served

        samples = server.scrape()
        totals = requests_by_method_and_code(samples)
        assert totals[("Recommend", "OK")] == good
        assert totals[("Recommend", "INVALID_ARGUMENT")] == invalid
        assert sum(totals.values()) == good + invalid
        assert samples[("basketry_response_items_count", (("method", "Recommend"),))] == good
        assert samples[("basketry_requests_in_flight", (("method", "Recommend"),))] == 0
        for index in ("0", "1"):
            assert samples[("basketry_worker_resident_memory_bytes", (("worker", index),))] > 0
        assert samples[("basketry_snapshot_loaded", ())] == 1
        assert samples[("basketry_snapshot_loads_total", ())] == 2  # one per worker
        assert samples[("basketry_worker_restarts_total", ())] == 0
        assert samples[("basketry_snapshot_age_seconds", ())] > 0

        new = publish_synthetic_snapshot(
            snapshot_dir, seed=1, n_customers=60, n_items=40, factors=8
        ).name

        def every_connection_serves_new() -> bool:
            versions = {
                stub.GetModelInfo(pb.GetModelInfoRequest()).model_version for stub in all_stubs
            }
            return versions == {new}

        wait_until(every_connection_serves_new, f"not every worker swapped in {new}")
        samples = server.scrape()
        assert samples[("basketry_snapshot_info", (("version", new),))] == 1
        assert samples[("basketry_snapshot_customers", ())] == 60
        assert samples[("basketry_snapshot_loads_total", ())] == 4
        directory = Path(server.wait_for(r"metrics merged from (\S+)\)")[1])
        assert directory.is_dir()

        code, log = server.stop()
    assert code == 0, log
    assert log.count("received SIGTERM: draining") == 2  # each worker drained
    assert "basketry supervisor stopped (2 workers)" in log
    assert not directory.exists()


def test_a_killed_worker_is_restarted_and_totals_never_go_back(snapshot_dir: Path) -> None:
    with supervised(snapshot_dir) as server, stubs(server.target, CHANNELS) as all_stubs:
        good, invalid = send_calls(all_stubs, per_stub=3)
        before = requests_by_method_and_code(server.scrape())
        assert before[("Recommend", "OK")] == good

        victim = server.worker_pids()[0]
        log_mark = len(server.lines)
        os.kill(victim, signal.SIGKILL)
        server.wait_for(r"worker 0 \(pid \d+\) was killed by SIGKILL unexpectedly", after=log_mark)
        restarted = int(server.wait_for(r"worker 0 started \(pid (\d+)\)", after=log_mark)[1])
        server.wait_for(rf"worker 0 \(pid {restarted}\) is serving", after=log_mark)
        assert restarted != victim

        samples = server.scrape()
        assert samples[("basketry_worker_restarts_total", ())] == 1
        after_kill = requests_by_method_and_code(samples)
        assert after_kill == before  # the dead worker's counts are kept
        assert samples[("basketry_requests_in_flight", (("method", "Recommend"),))] == 0

        # Fresh connections (old ones to the dead worker are gone) reach both workers again.
        with stubs(server.target, CHANNELS) as fresh:
            more, more_invalid = send_calls(fresh, per_stub=2)
        final = requests_by_method_and_code(server.scrape())
        assert final[("Recommend", "OK")] == good + more
        assert final[("Recommend", "INVALID_ARGUMENT")] == invalid + more_invalid
        assert all(final[key] >= count for key, count in before.items())
        code, log = server.stop()
    assert code == 0, log


def test_a_port_in_use_is_a_clear_error(snapshot_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                str(BASKETRY),
                "serve",
                "--snapshot-dir",
                str(snapshot_dir),
                "--port",
                str(port),
                "--metrics-port",
                "0",
                "--processes",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "worker 0 started" not in result.stderr


def test_workers_that_fail_at_start_stop_the_supervisor(tmp_path: Path) -> None:
    """A real worker process that exits before it serves: no restart loop, exit code 1."""
    settings = ServerSettings(snapshot_dir=tmp_path, port=0, metrics_port=None, processes=2)
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    directory = tmp_path / "metrics"
    directory.mkdir()
    supervisor = Supervisor(settings, failing, free_port(), directory)
    assert supervisor.run(threading.Event()) == 1
    assert supervisor.worker_pids() == {}
