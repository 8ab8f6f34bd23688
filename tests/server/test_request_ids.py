"""Request ids over a real server: taken from the caller when sane, else made; sent back as
initial metadata; on every log record written while the RPC runs (unary and streaming)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.servers import running_server
from support.synthetic import REFERENCE_TS, customer_id

from basketry.server.request_ids import MAX_LENGTH, current_request_id, is_sane
from basketry.server.servicer import RecommenderServicer
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
GENERATED = re.compile(r"[0-9a-f]{32}")


def sent_back(call: Any) -> str:
    ids = [value for key, value in call.initial_metadata() if key == "x-request-id"]
    assert len(ids) == 1
    return str(ids[0])


def recommend(stub: Stub, *metadata: tuple[str, str]) -> str:
    _answer, call = stub.Recommend.with_call(
        pb.RecommendRequest(customer_id=customer_id(1)), metadata=metadata
    )
    return sent_back(call)


def test_a_sane_caller_id_is_kept_and_sent_back(stub: Stub) -> None:
    assert recommend(stub, ("x-request-id", "shop-7f3a:checkout/42")) == "shop-7f3a:checkout/42"
    longest = "r" * MAX_LENGTH
    assert recommend(stub, ("x-request-id", longest)) == longest


@pytest.mark.parametrize("given", ["r" * (MAX_LENGTH + 1), "two words", ""])
def test_an_insane_caller_id_is_replaced_by_a_new_one(stub: Stub, given: str) -> None:
    assert GENERATED.fullmatch(recommend(stub, ("x-request-id", given)))


def test_calls_without_an_id_each_get_their_own(stub: Stub) -> None:
    first, second = recommend(stub), recommend(stub)
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


def test_a_streaming_answer_sends_its_id_first(stub: Stub) -> None:
    responses = stub.RecommendBatch(
        pb.RecommendBatchRequest(customer_ids=[customer_id(1), customer_id(2)]),
        metadata=(("x-request-id", "batch-1"),),
    )
    assert sent_back(responses) == "batch-1"
    assert len(list(responses)) == 2


def test_the_sanity_rule() -> None:
    assert is_sane("a") and is_sane("~!#") and is_sane("x" * MAX_LENGTH)
    assert not any(is_sane(value) for value in ("", " ", "é", "a\nb", "x" * (MAX_LENGTH + 1)))
    assert current_request_id() is None  # outside an RPC


def test_log_records_written_during_an_rpc_carry_its_id(
    stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    old = pb.Order(
        order_id="o-old",
        customer_id=customer_id(3),
        lines=[pb.OrderLine(item_id="i001", quantity=1)],
    )
    old.timestamp.seconds = REFERENCE_TS - 86_400  # older than the snapshot: logged at INFO
    with caplog.at_level(logging.INFO, logger="basketry"):
        _answer, call = stub.RecordOrders.with_call(
            pb.RecordOrdersRequest(orders=[old]), metadata=(("x-request-id", "rec-1"),)
        )
        # Lines written outside any RPC have none.
        logging.getLogger("basketry.test").info("between calls")
    assert sent_back(call) == "rec-1"
    logged = [r for r in caplog.records if r.getMessage().startswith("RecordOrders:")]
    assert [getattr(r, "request_id", None) for r in logged] == ["rec-1"]
    assert caplog.records[-1].getMessage() == "between calls"
    assert getattr(caplog.records[-1], "request_id", "missing") is None


def failing_unary(self: Any, request: Any, context: Any) -> Any:
    logging.getLogger("basketry.test").warning("about to fail")
    raise RuntimeError("a bug")


def failing_stream(self: Any, request: Any, context: Any) -> Iterator[Any]:
    yield pb.RecommendBatchResponse(customer_id="first")
    logging.getLogger("basketry.test").warning("about to fail mid-stream")
    raise RuntimeError("a bug mid-stream")


def test_the_internal_error_log_line_carries_the_id(
    snapshot_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(RecommenderServicer, "SimilarItems", failing_unary)
    monkeypatch.setattr(RecommenderServicer, "RecommendBatch", failing_stream)
    with (
        running_server(snapshot_dir) as running,
        grpc.insecure_channel(running.target) as channel,
        caplog.at_level(logging.WARNING),
    ):
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.SimilarItems(
                pb.SimilarItemsRequest(item_id="i001"), metadata=(("x-request-id", "unary-1"),)
            )
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        responses = stub.RecommendBatch(
            pb.RecommendBatchRequest(customer_ids=["c"]), metadata=(("x-request-id", "stream-1"),)
        )
        with pytest.raises(grpc.RpcError) as failed:
            list(responses)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
    by_message = {r.getMessage(): getattr(r, "request_id", None) for r in caplog.records}
    assert by_message["about to fail"] == "unary-1"
    assert by_message["SimilarItems failed with an unexpected error"] == "unary-1"
    assert by_message["about to fail mid-stream"] == "stream-1"
    assert by_message["RecommendBatch failed with an unexpected error"] == "stream-1"
