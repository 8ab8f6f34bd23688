"""Snapshot swaps: health before and after the first load, swaps under load, broken versions."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.server.app import SERVICE_NAME
from basketry.snapshot.writer import point_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

SMALL = {"n_customers": 60, "n_items": 40, "factors": 8}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def publish_corrupted(snapshot_dir: Path, staging: Path, seed: int) -> str:
    """Publish a version whose item_factors.npy has a flipped byte, atomically, like a bad disk."""
    version_dir = publish_synthetic_snapshot(staging, seed=seed, **SMALL)  # type: ignore[arg-type]
    data = bytearray((version_dir / "item_factors.npy").read_bytes())
    data[-1] ^= 0xFF
    (version_dir / "item_factors.npy").write_bytes(bytes(data))
    shutil.move(version_dir, snapshot_dir / version_dir.name)
    point_latest(snapshot_dir, version_dir.name)
    return version_dir.name


def load_failures(running: RunningServer) -> float:
    """Versions refused, whatever the reason (the counter's `reason` label)."""
    return sum(
        sample.value
        for metric in running.server.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "basketry_snapshot_load_failures_total"
    )


def test_health_and_reflection_before_and_after_the_first_snapshot(tmp_path: Path) -> None:
    with running_server(tmp_path) as running, grpc.insecure_channel(running.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
        assert {
            SERVICE_NAME,
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services

        version = publish_synthetic_snapshot(tmp_path, **SMALL).name  # type: ignore[arg-type]

        def serving() -> bool:
            status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status
            return bool(status == health_pb2.HealthCheckResponse.SERVING)

        wait_until(serving)
        assert (
            health.Check(health_pb2.HealthCheckRequest()).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        assert stub.GetModelInfo(pb.GetModelInfoRequest()).model_version == version


def test_swap_under_load_never_fails_and_never_serves_a_broken_version(tmp_path: Path) -> None:
    snapshot_dir = tmp_path / "snapshots"
    good = {publish_synthetic_snapshot(snapshot_dir, seed=0, **SMALL).name}  # type: ignore[arg-type]
    failures: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    with running_server(snapshot_dir, poll_interval=0.02) as running:

        def hammer() -> None:
            with grpc.insecure_channel(running.target) as channel:
                stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
                while not stop.is_set():
                    try:
                        answer = stub.Recommend(
                            pb.RecommendRequest(customer_id="c0003", explain=True), timeout=5
                        )
                        seen.add(answer.model_version)
                        assert len(answer.items) == 10
                    except BaseException as error:  # collected, asserted below
                        failures.append(error)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for seed in range(1, 7):
                if seed == 3:
                    broken = publish_corrupted(snapshot_dir, tmp_path / "staging", seed=100)
                    wait_until(lambda: load_failures(running) == 1)
                good.add(publish_synthetic_snapshot(snapshot_dir, seed=seed, **SMALL).name)  # type: ignore[arg-type]
                time.sleep(0.15)
            last = (snapshot_dir / "LATEST").read_text().strip()
            wait_until(lambda: running.server.holder.current().version == last)
            time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        assert failures == []
        assert broken not in seen
        assert seen <= good and len(seen) >= 3
        assert load_failures(running) == 1


def test_a_refused_version_is_not_retried_until_latest_moves(tmp_path: Path) -> None:
    snapshot_dir = tmp_path / "snapshots"
    first = publish_synthetic_snapshot(snapshot_dir, **SMALL).name  # type: ignore[arg-type]
    with running_server(snapshot_dir, poll_interval=3600) as running:
        watcher = running.server.watcher
        publish_corrupted(snapshot_dir, tmp_path / "staging", seed=5)
        assert watcher.poll_once() is False
        assert watcher.poll_once() is False
        assert load_failures(running) == 1
        assert running.server.holder.current().version == first
        newest = publish_synthetic_snapshot(snapshot_dir, seed=6, **SMALL).name  # type: ignore[arg-type]
        assert watcher.poll_once() is True
        assert watcher.poll_once() is False
        assert running.server.holder.current().version == newest


def test_a_process_starting_on_a_refused_latest_serves_the_previous_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker restarted (or a replica added) while LATEST names a broken version serves
    what its running peers kept serving, instead of answering UNAVAILABLE."""
    snapshot_dir = tmp_path / "snapshots"
    older = publish_synthetic_snapshot(snapshot_dir, seed=1, **SMALL).name  # type: ignore[arg-type]
    previous = publish_synthetic_snapshot(snapshot_dir, seed=2, **SMALL).name  # type: ignore[arg-type]
    broken = publish_corrupted(snapshot_dir, tmp_path / "staging", seed=3)
    assert older < previous < broken
    with caplog.at_level(logging.WARNING), running_server(snapshot_dir) as running:
        assert running.server.holder.current().version == previous
        assert load_failures(running) == 1
        assert running.server.watcher.poll_once() is False  # LATEST still names the bad one
        assert load_failures(running) == 1
        with grpc.insecure_channel(running.target) as channel:
            stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
            answer = stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=5)
        assert answer.model_version == previous
        newest = publish_synthetic_snapshot(snapshot_dir, seed=4, **SMALL).name  # type: ignore[arg-type]
        assert running.server.watcher.poll_once() is True
        assert running.server.holder.current().version == newest
    assert f"serving the previous version {previous}" in caplog.text
    assert f"refused snapshot {broken}" in caplog.text


def test_a_process_starting_with_no_loadable_version_serves_nothing(tmp_path: Path) -> None:
    snapshot_dir = tmp_path / "snapshots"
    broken = publish_corrupted(snapshot_dir, tmp_path / "staging", seed=3)
    with running_server(snapshot_dir) as running:
        assert running.server.holder.loaded() is None
        assert load_failures(running) == 1
        assert running.server.watcher.poll_once() is False
        assert load_failures(running) == 1
    assert broken


def test_an_old_model_caught_in_a_reference_cycle_is_released_after_the_swap(
    tmp_path: Path,
) -> None:
    """The watcher collects garbage after a swap, so an old model that only a reference cycle
    still holds (as exception tracebacks make) is unmapped then, not at some later full
    collection. Automatic collection is off here so only the watcher's can free it."""
    snapshot_dir = tmp_path / "snapshots"
    publish_synthetic_snapshot(snapshot_dir, seed=1, **SMALL)  # type: ignore[arg-type]
    with running_server(snapshot_dir) as running:
        old_model = weakref.ref(running.server.holder.current())
        gc.disable()
        try:
            cycle: list[object] = [old_model()]
            cycle.append(cycle)
            del cycle
            newest = publish_synthetic_snapshot(snapshot_dir, seed=2, **SMALL).name  # type: ignore[arg-type]
            wait_until(lambda: running.server.holder.current().version == newest)
            assert old_model() is not None  # only the cycle holds it now
            wait_until(lambda: old_model() is None)
        finally:
            gc.enable()
