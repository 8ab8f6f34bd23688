"""Errors map onto the exception tree; only UNAVAILABLE and CANCELLED are retried (counted on
the wire)."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.servers import RunningServer, running_server, stub_server

from basketry.client import (
    BasketryClient,
    BasketryClientError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from basketry.v1 import recommender_pb2 as pb


class CountingInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Counts the attempts per RPC method as they leave the client."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        self.attempts[details.method.rsplit("/", 1)[-1]] += 1
        return continuation(details, request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        self.attempts[details.method.rsplit("/", 1)[-1]] += 1
        return continuation(details, request)


@pytest.fixture
def server_without_snapshot(tmp_path: Path) -> Iterator[RunningServer]:
    empty = tmp_path / "no-snapshots-yet"
    empty.mkdir()
    with running_server(empty) as running:
        yield running


@pytest.mark.parametrize("retries", [0, 2])
def test_unavailable_is_retried_then_raised(
    server_without_snapshot: RunningServer, retries: int
) -> None:
    counter = CountingInterceptor()
    with (
        BasketryClient(
            server_without_snapshot.target, retries=retries, interceptors=[counter]
        ) as client,
        pytest.raises(Unavailable) as caught,
    ):
        client.recommend("c0000")
    assert counter.attempts == {"Recommend": retries + 1}
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.method == "Recommend"


def test_batch_is_retried_while_no_answer_has_arrived(
    server_without_snapshot: RunningServer,
) -> None:
    counter = CountingInterceptor()
    with (
        BasketryClient(server_without_snapshot.target, retries=2, interceptors=[counter]) as client,
        pytest.raises(Unavailable),
    ):
        list(client.recommend_batch(["c0000", "c0001"]))
    assert counter.attempts == {"RecommendBatchChunked": 3}


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe is closed.
    with BasketryClient(f"127.0.0.1:{port}", retries=1) as client, pytest.raises(Unavailable):
        client.model_info()


def test_other_codes_are_raised_at_once(server: RunningServer) -> None:
    counter = CountingInterceptor()
    with BasketryClient(server.target, retries=2, interceptors=[counter]) as client:
        with pytest.raises(NotFound) as not_found:
            client.similar_items("ghost")
        with pytest.raises(InvalidArgument):
            client.recommend("c0000", limit=501)
    assert not_found.value.code == grpc.StatusCode.NOT_FOUND
    assert "ghost" in str(not_found.value)
    assert counter.attempts == {"SimilarItems": 1, "Recommend": 1}


def test_invalid_argument_names_every_bad_field(server: RunningServer) -> None:
    with BasketryClient(server.target) as client, pytest.raises(InvalidArgument) as caught:
        client.recommend("", limit=501)
    error = caught.value
    assert isinstance(error, BasketryClientError)
    assert set(error.fields) == {"customer_id", "limit"}
    assert all(v.description for v in error.field_violations)
    assert "limit" in str(error) and "customer_id" in str(error)


def test_batch_errors_arrive_when_the_stream_is_read(server: RunningServer) -> None:
    with BasketryClient(server.target) as client:
        answers = client.recommend_batch([f"c{n}" for n in range(10_001)])
        with pytest.raises(InvalidArgument) as caught:
            next(answers)
    assert caught.value.fields == ("customer_ids",)


def test_similar_customers_of_an_unknown_customer_is_not_found(server: RunningServer) -> None:
    with BasketryClient(server.target) as client, pytest.raises(NotFound):
        client.similar_customers("ghost")


def test_a_passed_deadline_raises_deadline_exceeded() -> None:
    # A server that answers after the deadline (a 1 us deadline against a real server was
    # flaky: a fast enough answer can beat it).
    release = threading.Event()

    def slow_model_info(
        request: pb.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetModelInfoResponse:
        release.wait(timeout=5)
        return pb.GetModelInfoResponse(model_version="v1")

    handler = grpc.unary_unary_rpc_method_handler(
        slow_model_info,
        request_deserializer=pb.GetModelInfoRequest.FromString,
        response_serializer=pb.GetModelInfoResponse.SerializeToString,
    )
    with stub_server("GetModelInfo", handler) as target:
        try:
            with BasketryClient(target) as client, pytest.raises(DeadlineExceeded):
                client.model_info(timeout=0.2)
        finally:
            release.set()


def test_client_side_mistakes_are_caught_before_sending(server: RunningServer) -> None:
    with BasketryClient(server.target) as client:
        with pytest.raises(TypeError, match="single string"):
            client.bundle("i000")
        with pytest.raises(ValueError, match="unknown strategy 'sideways'"):
            client.recommend("c0000", strategy="sideways")
    with pytest.raises(BasketryClientError, match="closed"):
        client.model_info()
    with pytest.raises(ValueError, match="timeouts"):
        BasketryClient(server.target, timeout=0)


class CancelledOnce:
    """Recommend that is cancelled server-side on its first call (a draining server drops the
    calls it received but had not started), then answers."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, request: pb.RecommendRequest, context: grpc.ServicerContext
    ) -> pb.RecommendResponse:
        self.calls += 1
        if self.calls == 1:
            context.abort(grpc.StatusCode.CANCELLED, "server shutting down")
        return pb.RecommendResponse(model_version="v1")


@pytest.mark.parametrize("retries", [0, 1])
def test_a_call_the_server_cancelled_is_sent_again(retries: int) -> None:
    recommend = CancelledOnce()
    handler = grpc.unary_unary_rpc_method_handler(
        recommend,
        request_deserializer=pb.RecommendRequest.FromString,
        response_serializer=pb.RecommendResponse.SerializeToString,
    )
    with (
        stub_server("Recommend", handler) as target,
        BasketryClient(target, retries=retries) as client,
    ):
        if retries == 0:
            with pytest.raises(BasketryClientError) as caught:
                client.recommend("c1")
            assert caught.value.code == grpc.StatusCode.CANCELLED
        else:
            assert client.recommend("c1").model_version == "v1"
    assert recommend.calls == 1 + retries


class BreaksAfterFirstAnswer:
    """RecommendBatch that answers the first customer, then fails UNAVAILABLE (draining)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchResponse]:
        self.calls += 1
        yield pb.RecommendBatchResponse(customer_id=request.customer_ids[0], model_version="v1")
        context.abort(grpc.StatusCode.UNAVAILABLE, "draining")


def test_batch_is_not_retried_once_answers_have_arrived() -> None:
    batch = BreaksAfterFirstAnswer()
    handler = grpc.unary_stream_rpc_method_handler(
        batch,
        request_deserializer=pb.RecommendBatchRequest.FromString,
        response_serializer=pb.RecommendBatchResponse.SerializeToString,
    )
    with stub_server("RecommendBatch", handler) as target:
        received = []
        with BasketryClient(target, retries=2) as client, pytest.raises(Unavailable):
            for answer in client.recommend_batch(["c1", "c2"]):
                received.append(answer.customer_id)
        assert received == ["c1"]
        assert batch.calls == 1


def test_batches_travel_chunked_and_fall_back_for_an_older_server(server: RunningServer) -> None:
    customers = [f"c{n:04d}" for n in range(150)]
    counter = CountingInterceptor()
    with BasketryClient(server.target, interceptors=[counter]) as client:
        chunked = list(client.recommend_batch(customers, limit=3))
    assert counter.attempts == {"RecommendBatchChunked": 1}
    assert [answer.customer_id for answer in chunked] == customers

    def one_per_customer(
        request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchResponse]:
        for customer_id in request.customer_ids:
            yield pb.RecommendBatchResponse(customer_id=customer_id, model_version="old")

    handler = grpc.unary_stream_rpc_method_handler(
        one_per_customer,
        request_deserializer=pb.RecommendBatchRequest.FromString,
        response_serializer=pb.RecommendBatchResponse.SerializeToString,
    )
    counter = CountingInterceptor()
    with (
        stub_server("RecommendBatch", handler) as target,
        BasketryClient(target, interceptors=[counter]) as client,
    ):
        first = list(client.recommend_batch(["c1", "c2"]))
        second = list(client.recommend_batch(["c3"]))
    assert [(a.customer_id, a.model_version) for a in first + second] == [
        ("c1", "old"),
        ("c2", "old"),
        ("c3", "old"),
    ]
    # Asked once, answered UNIMPLEMENTED: the client remembers and asks RecommendBatch.
    assert counter.attempts == {"RecommendBatchChunked": 1, "RecommendBatch": 2}
