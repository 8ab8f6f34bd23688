"""RecommendBatchChunked over a real server: RecommendBatch's answers, checks, rotation,
cancellation and metrics, in a message per chunk of customers."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.servers import running_server

from basketry.server.batch import CHUNK_SIZE
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
STRATEGIES = [pb.STRATEGY_UNSPECIFIED, pb.STRATEGY_BUY_AGAIN, pb.STRATEGY_DISCOVER_NEW]
# More than two server chunks, with unknown and repeated customers.
CUSTOMERS = [f"c{n % 200:04d}" for n in range(0, 300, 2)] + ["nobody", "c0004", "nobody"]


def chunked(stub: Stub, request: pb.RecommendBatchRequest) -> list[pb.RecommendBatchChunk]:
    return list(stub.RecommendBatchChunked(request, timeout=30))


def answers_of(messages: list[pb.RecommendBatchChunk]) -> list[pb.RecommendBatchResponse]:
    return [answer for message in messages for answer in message.answers]


def test_the_same_answers_as_recommend_batch_in_fewer_messages(stub: Stub) -> None:
    for strategy in STRATEGIES:
        for explain in (False, True):
            request = pb.RecommendBatchRequest(
                customer_ids=CUSTOMERS, limit=7, strategy=strategy, explain=explain
            )
            messages = chunked(stub, request)
            one_each = list(stub.RecommendBatch(request, timeout=30))
            assert answers_of(messages) == one_each
            assert len(messages) == -(-len(CUSTOMERS) // CHUNK_SIZE)
            assert all(message.answers for message in messages)
    answers = answers_of(chunked(stub, pb.RecommendBatchRequest(customer_ids=CUSTOMERS)))
    assert [answer.customer_id for answer in answers] == CUSTOMERS
    assert answers[-1].fallback == pb.FALLBACK_COLD_CUSTOMER
    assert all(len(answer.items) == 10 for answer in answers)


def test_filters_apply_and_a_filtered_out_answer_says_so(stub: Stub) -> None:
    only = pb.ItemFilter(only_categories=["cat0"], exclude_item_ids=["i000"])
    request = pb.RecommendBatchRequest(customer_ids=CUSTOMERS[:20], limit=30, filter=only)
    answers = answers_of(chunked(stub, request))
    assert answers == list(stub.RecommendBatch(request, timeout=30))
    for answer in answers:
        item_ids = [item.item_id for item in answer.items]
        assert item_ids and "i000" not in item_ids
        assert all(int(item_id[1:]) % 5 == 0 for item_id in item_ids)


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (pb.RecommendBatchRequest(), "customer_ids"),
        (pb.RecommendBatchRequest(customer_ids=["c"] * 10_001), "customer_ids"),
        (pb.RecommendBatchRequest(customer_ids=["c1", "x" * 257]), "customer_ids[1]"),
        (pb.RecommendBatchRequest(customer_ids=["c1"], limit=501), "limit"),
        (pb.RecommendBatchRequest(customer_ids=["c1"], campaign="   "), "campaign"),
    ],
)
def test_bad_requests_are_refused_like_recommend_batch(
    stub: Stub, request_message: pb.RecommendBatchRequest, field: str
) -> None:
    statuses = []
    for call in (stub.RecommendBatchChunked, stub.RecommendBatch):
        with pytest.raises(grpc.RpcError) as refused:
            list(call(request_message, timeout=10))
        statuses.append((refused.value.code(), refused.value.details()))
    assert statuses[0] == statuses[1]
    assert statuses[0][0] == grpc.StatusCode.INVALID_ARGUMENT
    assert field in statuses[0][1]


def test_campaign_rotation_spans_both_batch_rpcs(stub: Stub) -> None:
    # Each customer once: a repeated one is sent what its first answer was not.
    customers = [f"c{n:04d}" for n in range(0, 200, 2)] + ["nobody"]
    plain = answers_of(chunked(stub, pb.RecommendBatchRequest(customer_ids=customers, limit=5)))
    campaign = pb.RecommendBatchRequest(customer_ids=customers, limit=5, campaign="weekly")
    first = answers_of(chunked(stub, campaign))
    second = list(stub.RecommendBatch(campaign, timeout=30))
    third = answers_of(chunked(stub, campaign))
    assert first == plain  # nothing sent yet under the campaign
    for one, two, three in zip(first, second, third, strict=True):
        sent = [{item.item_id for item in answer.items} for answer in (one, two, three)]
        assert all(len(items) == 5 for items in sent)
        assert not sent[0] & sent[1] and not sent[0] & sent[2] and not sent[1] & sent[2]


def test_a_cancelled_chunked_batch_frees_the_server(stub: Stub) -> None:
    customers = [f"c{i % 200:04d}" for i in range(10_000)]
    call = stub.RecommendBatchChunked(pb.RecommendBatchRequest(customer_ids=customers))
    first = next(call)
    call.cancel()
    assert len(first.answers) == CHUNK_SIZE
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=5).items


def test_rows_count_in_the_batch_metrics(snapshot_dir: Path) -> None:
    with (
        running_server(snapshot_dir, metrics_port=0) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        request = pb.RecommendBatchRequest(customer_ids=["c0001", "nobody", "c0003"], limit=4)
        assert len(answers_of(chunked(Stub(channel), request))) == 3
        url = f"http://127.0.0.1:{running.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            samples = {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(response.read().decode())
                for sample in family.samples
            }
    ok = (("code", "OK"), ("method", "RecommendBatchChunked"))
    assert samples[("basketry_requests_total", ok)] == 1
    # Rows of either batch RPC count as RecommendBatch answers: the same answers.
    rows = (("method", "RecommendBatch"),)
    assert samples[("basketry_response_items_count", rows)] == 3
    assert samples[("basketry_response_items_sum", rows)] == 12
    assert samples[("basketry_fallbacks_total", (("reason", "cold_customer"),))] == 1
