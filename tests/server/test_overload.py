"""Overload: beyond `max_concurrent_rpcs` calls the server answers RESOURCE_EXHAUSTED at
once (gRPC does, before any interceptor, so basketry_requests_total does not count them),
the client library does not retry that, and the server answers normally once load drops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from support.servers import RunningServer, running_server
from support.synthetic import customer_id, publish_synthetic_snapshot

from basketry.client import BasketryClient, BasketryClientError
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
HANG_BOUND = 30.0  # seconds: only bounds a hang, never expected
# A batch whose answer (10,000 customers x 500 explained items, ~200 MB) cannot fit in the
# transport's buffers: a client that stops reading keeps the call open on the server.
BIG_BATCH = pb.RecommendBatchRequest(
    customer_ids=[customer_id(i % 200) for i in range(10_000)], limit=500, explain=True
)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshots")
    publish_synthetic_snapshot(directory)
    return directory


def _requests_counted(running: RunningServer, code: str) -> float:
    registry = running.server.metrics.registry
    return sum(
        registry.get_sample_value("basketry_requests_total", {"method": method, "code": code})
        or 0.0
        for method in ("Recommend", "RecommendBatch", "RecommendBatchChunked")
    )


@dataclass(frozen=True)
class HeldOpen:
    running: RunningServer
    release: Callable[[], None]  # cancels the calls holding the server's places


@pytest.fixture
def held_open(snapshot: Path) -> Iterator[HeldOpen]:
    """A server with max_concurrent_rpcs=2 whose 2 places are taken by batch streams the
    client started reading and then stopped (each handler waits to send its next message)."""
    with (
        running_server(snapshot, max_concurrent_rpcs=2, workers=2) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = Stub(channel)
        streams = [stub.RecommendBatch(BIG_BATCH, timeout=HANG_BOUND) for _ in range(2)]
        for stream in streams:
            assert next(stream).customer_id == customer_id(0)  # running on the server

        def release() -> None:
            for stream in streams:
                stream.cancel()

        try:
            yield HeldOpen(running, release)
        finally:
            release()


def test_beyond_the_limit_calls_are_refused_and_the_server_recovers(held_open: HeldOpen) -> None:
    running = held_open.running
    with grpc.insecure_channel(running.target) as channel:
        stub = Stub(channel)
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=HANG_BOUND)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as refused_stream:
            list(stub.RecommendBatchChunked(BIG_BATCH, timeout=HANG_BOUND))
        assert refused_stream.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Refused by gRPC itself: the server's own request counter never saw them.
        assert _requests_counted(running, "RESOURCE_EXHAUSTED") == 0
        assert _requests_counted(running, "OK") == 0

        held_open.release()  # load drops
        answer = _recommend_when_free(stub)
        assert answer.items and answer.model_version
        assert (
            len(list(stub.RecommendBatchChunked(pb.RecommendBatchRequest(customer_ids=["c0002"]))))
            == 1
        )


def _recommend_when_free(stub: Stub) -> pb.RecommendResponse:
    """Recommend, retried while the cancelled streams are still being let go of (the
    server frees a place once a cancelled handler has returned)."""
    give_up = threading.Event()
    timer = threading.Timer(HANG_BOUND, give_up.set)
    timer.start()
    try:
        while True:
            try:
                return stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=HANG_BOUND)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or give_up.is_set():
                    raise
                give_up.wait(0.01)
    finally:
        timer.cancel()


def test_the_client_library_does_not_retry_resource_exhausted(
    held_open: HeldOpen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="basketry.client")
    with (
        BasketryClient(held_open.running.target, retries=5, timeout=HANG_BOUND) as client,
        pytest.raises(BasketryClientError) as caught,
    ):
        client.recommend("c0001")
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not [record for record in caplog.records if "retry" in record.getMessage()]


def test_many_slow_calls_on_one_thread_get_answers_or_resource_exhausted(
    snapshot: Path,
) -> None:
    """Eight concurrent 10,000-customer batches (each takes ~0.5 s here) on a server with
    one handler thread and room for three calls: the rest are refused at once, the
    accepted ones are answered in full, and the server answers normally afterwards."""
    batch = pb.RecommendBatchRequest(customer_ids=BIG_BATCH.customer_ids)
    with (
        running_server(snapshot, max_concurrent_rpcs=3, workers=1) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = Stub(channel)
        start = threading.Barrier(8)

        def one_batch(_: int) -> grpc.StatusCode:
            start.wait(timeout=HANG_BOUND)
            try:
                customers = sum(
                    len(chunk.answers)
                    for chunk in stub.RecommendBatchChunked(batch, timeout=HANG_BOUND)
                )
            except grpc.RpcError as error:
                code: grpc.StatusCode = error.code()
                return code
            assert customers == len(batch.customer_ids)
            return grpc.StatusCode.OK

        with futures.ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(one_batch, range(8)))
        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        answered = _requests_counted(running, "OK")
        assert answered == codes.count(grpc.StatusCode.OK)
        assert stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=HANG_BOUND).items
