"""The checks of issue 7's validation review, over a real server: blank ids and control
characters, infinite or negative filter prices, unknown enum values, category names,
recorded-order timestamps and quantities; each refused with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from support.raw_calls import Outcome, call_raw, outcome_of
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.server.requests import MAX_BATCH_CUSTOMERS, MAX_LINE_QUANTITY
from basketry.server.settings import MIB
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
INF = float("inf")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("snapshots")
    publish_synthetic_snapshot(directory)
    with running_server(directory) as server:
        yield server


@pytest.fixture(scope="module")
def stub(running: RunningServer) -> Iterator[Stub]:
    with grpc.insecure_channel(running.target) as channel:
        yield Stub(channel)


def _call(stub: Stub, method: str, request: Any) -> Outcome:
    try:
        answer = getattr(stub, method)(request, timeout=30)
        if method.startswith("RecommendBatch"):
            list(answer)
    except grpc.RpcError as error:
        return outcome_of(error)
    return Outcome(grpc.StatusCode.OK)


def _order(**fields: Any) -> pb.Order:
    order = pb.Order(order_id="o1", customer_id="c0001")
    order.lines.add(item_id="i000", quantity=1)
    for name, value in fields.items():
        if name == "timestamp":
            order.timestamp.seconds, order.timestamp.nanos = value
        else:
            setattr(order.lines[0], name, value)
    return order


REFUSED = [
    ("Recommend", pb.RecommendRequest(customer_id="   "), "customer_id", "blank"),
    ("Recommend", pb.RecommendRequest(customer_id="c\x000"), "customer_id", "U+0000"),
    ("Recommend", pb.RecommendRequest(customer_id="c0001\n"), "customer_id", "U+000A"),
    ("Recommend", pb.RecommendRequest(customer_id="c\x85"), "customer_id", "U+0085"),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", context_item_ids=["i000", "\t"]),
        "context_item_ids[1]",
        "blank",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(min_price=INF)),
        "filter.min_price",
        "finite",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(max_price=-INF)),
        "filter.max_price",
        "finite",
    ),
    (
        "Bundle",
        pb.BundleRequest(item_ids=["i000"], filter=pb.ItemFilter(max_price=-1)),
        "filter.max_price",
        ">= 0",
    ),
    (
        "SimilarItems",
        pb.SimilarItemsRequest(item_id="i000", filter=pb.ItemFilter(only_categories=[""])),
        "filter.only_categories[0]",
        "required",
    ),
    (
        "SimilarItems",
        pb.SimilarItemsRequest(
            item_id="i000", filter=pb.ItemFilter(exclude_categories=["k"] * 101)
        ),
        "filter.exclude_categories",
        "101 categories",
    ),
    (
        "RecommendBatch",
        pb.RecommendBatchRequest(customer_ids=["c1"], strategy=-1),  # type: ignore[arg-type]
        "strategy",
        "unknown",
    ),
    (
        "RecommendBatchChunked",
        pb.RecommendBatchRequest(customer_ids=["c1"], campaign="spring\nsale"),
        "campaign",
        "control",
    ),
    (
        "SimilarCustomers",
        pb.SimilarCustomersRequest(customer_id="c\x7f"),
        "customer_id",
        "U+007F",
    ),
    ("Lookalike", pb.LookalikeRequest(seed_customer_ids=[" "]), "seed_customer_ids[0]", "blank"),
    (
        "RecordOrders",
        pb.RecordOrdersRequest(orders=[_order(quantity=MAX_LINE_QUANTITY * 2)]),
        "orders[0].lines[0].quantity",
        "<= 1,000,000,000",
    ),
    (
        "RecordOrders",
        pb.RecordOrdersRequest(orders=[_order(timestamp=(-5, 0))]),
        "orders[0].timestamp",
        "after 1970",
    ),
    (
        "RecordOrders",
        pb.RecordOrdersRequest(orders=[_order(timestamp=(1_700_000_000, -1))]),
        "orders[0].timestamp",
        "nanos",
    ),
    (
        "RecordOrders",
        pb.RecordOrdersRequest(orders=[pb.Order(order_id="o\r", customer_id="c1")]),
        "orders[0].order_id",
        "U+000D",
    ),
]


@pytest.mark.parametrize(("method", "request_message", "field", "words"), REFUSED)
def test_refused_with_the_field_named(
    stub: Stub, method: str, request_message: Any, field: str, words: str
) -> None:
    outcome = _call(stub, method, request_message)
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert field in outcome.violations, outcome.violations
    assert words in outcome.violations[field]


@pytest.mark.parametrize(
    ("method", "request_message"),
    [
        # Unusual but valid: inner spaces, non-ASCII letters, a price bound of 0, the
        # largest quantity, category names with spaces.
        ("Recommend", pb.RecommendRequest(customer_id="Jo Müller 😀")),
        (
            "Recommend",
            pb.RecommendRequest(
                customer_id="c0001",
                filter=pb.ItemFilter(min_price=0, max_price=0, only_categories=["home & garden"]),
            ),
        ),
        ("RecordOrders", pb.RecordOrdersRequest(orders=[_order(quantity=MAX_LINE_QUANTITY)])),
        ("GetModelInfo", pb.GetModelInfoRequest()),
    ],
)
def test_accepted(stub: Stub, method: str, request_message: Any) -> None:
    assert _call(stub, method, request_message).code == grpc.StatusCode.OK


def test_message_size_limit(running: RunningServer) -> None:
    """Over max_message_bytes (16 MiB) gRPC refuses the message before any of the server's
    code (so it is not counted); below it, too many ids are named as usual."""
    long_id = "x" * 250
    too_big = pb.RecommendBatchRequest(customer_ids=[long_id] * 70_000).SerializeToString()
    allowed = pb.RecommendBatchRequest(customer_ids=[long_id] * 50_000).SerializeToString()
    assert len(allowed) < 16 * MIB < len(too_big)
    options = [("grpc.max_send_message_length", 64 * MIB)]
    with grpc.insecure_channel(running.target, options=options) as channel:
        refused = call_raw(channel, "RecommendBatch", too_big)
        named = call_raw(channel, "RecommendBatch", allowed)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
    assert "larger than max" in refused.details
    counted = running.server.metrics.registry.get_sample_value(
        "basketry_requests_total", {"method": "RecommendBatch", "code": "RESOURCE_EXHAUSTED"}
    )
    assert counted is None
    assert named.code == grpc.StatusCode.INVALID_ARGUMENT
    assert named.violations == {
        "customer_ids": f"holds 50000 ids; at most {MAX_BATCH_CUSTOMERS} are allowed"
    }
