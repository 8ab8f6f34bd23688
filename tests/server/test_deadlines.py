"""Deadlines and cancellation stop the work: a 10,000-customer batch whose 50 ms deadline
passes, or whose client cancels, ends on the server too, long before its last customer.

What shows the server stopped is its own count of the customer rows it answered
(basketry_response_items{method="RecommendBatch"}) once the call has left it, and its log
line saying how many answers it had computed; no timing is asserted. The batch takes
~0.8 s on this snapshot (2 cores), so a 50 ms deadline ends it in its first chunks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from support.servers import RunningServer, running_server
from support.synthetic import customer_id, publish_synthetic_snapshot

from basketry.server.call_state import Cancelled, DeadlineExceeded
from basketry.server.servicer import RecommenderServicer
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
CUSTOMERS = 400
BATCH = [customer_id(i % CUSTOMERS) for i in range(10_000)]
HANG_BOUND = 30.0  # seconds: only bounds a hang, never expected


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshots")
    publish_synthetic_snapshot(directory, n_customers=CUSTOMERS, n_items=400)
    return directory


@pytest.fixture
def running(snapshot: Path) -> Iterator[RunningServer]:
    with running_server(snapshot) as server:
        yield server


def _sample(running: RunningServer, name: str, **labels: str) -> float:
    return running.server.metrics.registry.get_sample_value(name, labels) or 0.0


def _wait_for_count(running: RunningServer, method: str, code: str) -> None:
    """Until the server has counted one `method` call ending with `code` (it has left)."""
    give_up = time.monotonic() + HANG_BOUND
    while _sample(running, "basketry_requests_total", method=method, code=code) < 1:
        assert time.monotonic() < give_up, f"the server never ended {method} with {code}"
        time.sleep(0.01)


def _rows_answered(running: RunningServer) -> float:
    return _sample(running, "basketry_response_items_count", method="RecommendBatch")


def _computed(caplog: pytest.LogCaptureFixture, method: str, reason: str) -> int:
    """Answers computed, from the server's log line for the stopped batch."""
    pattern = (
        rf"^{method} after \d+ of 10000 customers: {reason}; stopped, answers computed for (\d+)$"
    )
    counts = [
        int(match.group(1))
        for record in caplog.records
        if (match := re.match(pattern, record.getMessage()))
    ]
    assert len(counts) == 1, [record.getMessage() for record in caplog.records]
    return counts[0]


@pytest.mark.parametrize("method", ["RecommendBatch", "RecommendBatchChunked"])
def test_a_batch_past_its_deadline_stops_on_the_server(
    running: RunningServer, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="basketry.server.servicer")
    with grpc.insecure_channel(running.target) as channel:
        stub = Stub(channel)
        assert stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=HANG_BOUND).model_version
        call = getattr(stub, method)(pb.RecommendBatchRequest(customer_ids=BATCH), timeout=0.05)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in call:
                pass
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _wait_for_count(running, method, "DEADLINE_EXCEEDED")
        assert _rows_answered(running) < len(BATCH)
        assert _computed(caplog, method, "deadline exceeded") < len(BATCH)
        # Nothing else was counted for the call, and the server answers normally.
        assert _sample(running, "basketry_requests_total", method=method, code="OK") == 0
        answer = stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=HANG_BOUND)
        assert answer.items


def test_a_cancelled_chunked_batch_stops_producing(
    running: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="basketry.server.servicer")
    with grpc.insecure_channel(running.target) as channel:
        stub = Stub(channel)
        call = stub.RecommendBatchChunked(
            pb.RecommendBatchRequest(customer_ids=BATCH), timeout=HANG_BOUND
        )
        first = next(call)
        assert first.answers[0].customer_id == BATCH[0]
        call.cancel()
        _wait_for_count(running, "RecommendBatchChunked", "CANCELLED")
        assert _rows_answered(running) < len(BATCH)
        assert _computed(caplog, "RecommendBatchChunked", "cancelled by the client") < len(BATCH)
        with pytest.raises(grpc.RpcError) as caught:
            list(call)
        assert caught.value.code() == grpc.StatusCode.CANCELLED
        answer = stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=HANG_BOUND)
        assert answer.items


@dataclass
class _OverCall:
    """Stands in for the gRPC context of a call that is over by the time it is checked:
    gRPC cannot be made to end a call between two given lines of a handler."""

    deadline_passed: bool

    def time_remaining(self) -> float:
        return 0.0 if self.deadline_passed else 60.0

    def is_active(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("deadline_passed", "error"), [(True, DeadlineExceeded), (False, Cancelled)]
)
def test_customer_lists_are_not_built_for_a_call_that_is_over(
    running: RunningServer, deadline_passed: bool, error: type[Exception]
) -> None:
    server = running.server
    servicer = RecommenderServicer(server.holder, server.metrics, server.orders)
    context = _OverCall(deadline_passed)
    with pytest.raises(error, match="before building its answer"):
        servicer.Lookalike(
            pb.LookalikeRequest(seed_customer_ids=BATCH[:100], limit=10_000),
            context,  # type: ignore[arg-type]
        )
    with pytest.raises(error, match="before building its answer"):
        servicer.SimilarCustomers(
            pb.SimilarCustomersRequest(customer_id="c0001", limit=10_000),
            context,  # type: ignore[arg-type]
        )
    # Neither answered: no customer list was counted.
    for method in ("Lookalike", "SimilarCustomers"):
        assert _sample(running, "basketry_response_items_count", method=method) == 0
