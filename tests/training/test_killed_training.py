"""`basketry train` killed (SIGKILL) at a spread of moments never leaves a partial version
visible: after every kill LATEST is absent or names a complete version, every version
directory verifies, and a server started on the directory serves or says it has nothing
(UNAVAILABLE), never refuses a version; a server polling the directory throughout never
refuses one either. The next successful run removes what the killed ones left once it is
stale (basketry.snapshot.writer.STALE_TEMP_SECONDS).

Kill moments: the test watches the snapshot directory and kills a run at a set delay after
its `.tmp-` directory appears (publishing has begun), so the kills spread over writing the
arrays, the manifest, the rename, LATEST and pruning whatever the machine's speed; at least
one must have landed mid-publish (its `.tmp-` directory was left behind).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry
from support.servers import running_server

from basketry.cli.main import main
from basketry.snapshot import load_snapshot
from basketry.snapshot.writer import STALE_TEMP_SECONDS, TEMP_PREFIX
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

# When to kill a run: a moment ("started": the process started; "publishing": a new .tmp-
# entry appeared; "renamed": a new version directory appeared, so LATEST and pruning are
# next) and a delay after it. Publishing this data takes about 0.2 s on a loaded 2-core
# machine; the import before it about 3 s.
KILL_POINTS = (
    ("started", 1.0),
    ("publishing", 0.0),
    ("publishing", 0.02),
    ("publishing", 0.06),
    ("publishing", 0.12),
    ("renamed", 0.0),
    ("renamed", 0.0),
    ("renamed", 0.05),
)
TRAIN_ARGS = ("--factors", "4", "--iterations", "2", "--threads", "1", "--keep", "2")
RUN_TIMEOUT = 120.0  # bounds a hang only
FAILURES = "basketry_snapshot_load_failures_total"


@dataclass(frozen=True)
class Kill:
    moment: str
    delay: float
    reached: bool  # the moment came before the run ended by itself
    left_temp: bool  # the run's .tmp- entries were still there after the kill
    published: bool  # a new version directory was there after the kill
    finished: bool  # the run exited by itself before the kill


def write_orders(path: Path) -> Path:
    """600 orders of 150 customers over 60 items (deterministic)."""
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "quantity", "timestamp"])
        for order in range(600):
            customer = rng.randrange(150)
            for item in rng.sample(range(60), rng.randint(1, 5)):
                stamp = f"2024-01-{1 + order % 28:02d} 10:00:00"
                writer.writerow([f"o{order}", f"c{customer}", f"i{item}", rng.randint(1, 3), stamp])
    return path


def temp_entries(snapshot_dir: Path) -> set[str]:
    return {name for name in os.listdir(snapshot_dir) if name.startswith(TEMP_PREFIX)}


def version_entries(snapshot_dir: Path) -> set[str]:
    return {name for name in os.listdir(snapshot_dir) if not name.startswith(".")} - {"LATEST"}


def train_and_kill(orders: Path, snapshot_dir: Path, moment: str, delay: float, log: Path) -> Kill:
    """Start `basketry train`; SIGKILL it `delay` s after `moment` (see KILL_POINTS)."""
    temps, versions = temp_entries(snapshot_dir), version_entries(snapshot_dir)

    def arrived() -> bool:
        if moment == "publishing":
            return bool(temp_entries(snapshot_dir) - temps)
        if moment == "renamed":
            return bool(version_entries(snapshot_dir) - versions)
        return True  # "started"

    command = [sys.executable, "-m", "basketry.cli.main", "train", "--orders", str(orders)]
    command += [*TRAIN_ARGS, "--snapshot-dir", str(snapshot_dir)]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output, start_new_session=True)
    deadline = time.monotonic() + RUN_TIMEOUT
    reached = False
    while process.poll() is None and not reached:
        assert time.monotonic() < deadline, f"training hung; see {log}"
        reached = arrived()
        time.sleep(0.001)
    if reached:
        time.sleep(delay)
    finished = process.poll() is not None
    if not finished:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=RUN_TIMEOUT)
    if finished:
        assert process.returncode == 0, f"training failed; see {log}"
    return Kill(
        moment,
        delay,
        reached,
        left_temp=bool(temp_entries(snapshot_dir) - temps),
        published=bool(version_entries(snapshot_dir) - versions),
        finished=finished,
    )


def assert_nothing_partial_is_visible(snapshot_dir: Path) -> str | None:
    """Every visible version verifies and LATEST names one of them (or is absent); LATEST."""
    visible = [p for p in snapshot_dir.iterdir() if not p.name.startswith(".")]
    versions = {p.name for p in visible if p.name != "LATEST"}
    for name in versions:
        load_snapshot(snapshot_dir / name)  # raises unless complete and intact
    latest_file = snapshot_dir / "LATEST"
    if not latest_file.exists():
        return None
    latest = latest_file.read_text().strip()
    assert latest in versions, f"LATEST names {latest!r}, not one of {sorted(versions)}"
    return latest


def assert_a_new_server_serves_or_says_nothing(snapshot_dir: Path, latest: str | None) -> None:
    with (
        running_server(snapshot_dir) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        if latest is None:
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10).model_version == latest
            assert len(stub.Recommend(pb.RecommendRequest(customer_id="c1"), timeout=10).items)
        assert refusals(running.server.metrics.registry) == 0


def refusals(registry: CollectorRegistry) -> float:
    """Snapshot versions the server refused, whatever the reason."""
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == FAILURES
    )


def backdate(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for entry in [path, *(path.iterdir() if path.is_dir() else [])]:
        os.utime(entry, (stamp, stamp), follow_symlinks=False)


def test_a_killed_training_run_never_leaves_a_partial_version(tmp_path: Path) -> None:
    orders = write_orders(tmp_path / "orders.csv")
    snapshot_dir = tmp_path / "snapshots"
    snapshot_dir.mkdir()
    log = tmp_path / "train.log"
    kills: list[Kill] = []
    with running_server(snapshot_dir, poll_interval=0.02) as watching:
        for moment, delay in KILL_POINTS:
            kill = train_and_kill(orders, snapshot_dir, moment, delay, log)
            kills.append(kill)
            latest = assert_nothing_partial_is_visible(snapshot_dir)
            assert_a_new_server_serves_or_says_nothing(snapshot_dir, latest)
        assert refusals(watching.server.metrics.registry) == 0
    # At least one kill landed mid-publish (the others' moments depend on the machine).
    assert any(k.moment == "publishing" and k.reached and k.left_temp for k in kills), kills

    # What the killed runs left: once stale, the next successful run removes it; a fresh
    # .tmp- entry (a concurrent publish still writing) stays.
    left = temp_entries(snapshot_dir)
    for name in left:
        backdate(snapshot_dir / name, STALE_TEMP_SECONDS + 60)
    live = snapshot_dir / f"{TEMP_PREFIX}concurrent-writer"
    live.mkdir()
    (live / "item_ids.npy").write_bytes(b"being written")
    argv = ["train", "--orders", str(orders), *TRAIN_ARGS, "--snapshot-dir", str(snapshot_dir)]
    assert main([*argv, "--quiet"]) == 0
    assert temp_entries(snapshot_dir) == {live.name}
    latest = assert_nothing_partial_is_visible(snapshot_dir)
    assert latest is not None
    assert_a_new_server_serves_or_says_nothing(snapshot_dir, latest)
