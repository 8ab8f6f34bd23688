"""Every RPC over a real server on a loopback port, including each error status."""

from __future__ import annotations

import functools
import logging
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from support.servers import RunningServer, running_server
from support.synthetic import synthetic_arrays

from basketry.server import servicer
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub


def test_recommend(stub: Stub) -> None:
    version = stub.GetModelInfo(pb.GetModelInfoRequest()).model_version
    answer = stub.Recommend(pb.RecommendRequest(customer_id="c0003", limit=12, explain=True))
    assert answer.model_version == version
    assert answer.fallback == pb.FALLBACK_UNSPECIFIED
    assert len(answer.items) == 12 == len({item.item_id for item in answer.items})
    assert {item.reason for item in answer.items} <= {
        pb.REASON_BUY_AGAIN,
        pb.REASON_PERSONALIZED,
        pb.REASON_BOUGHT_TOGETHER,
    }
    assert all(item.name.startswith("Item ") and item.because_item_ids for item in answer.items)
    # Explained items carry the repurchase facts of the snapshot (cycle 30 days when known).
    assert all(0 <= item.repeat_probability <= 1 for item in answer.items)
    assert any(item.repeat_probability > 0 for item in answer.items)
    assert {item.repeat_cycle_days for item in answer.items} <= {0.0, 30.0}
    plain = stub.Recommend(pb.RecommendRequest(customer_id="c0003", limit=12))
    assert all(item.repeat_probability == 0 == item.repeat_cycle_days for item in plain.items)


def test_once_only_items_never_return_to_their_buyers(stub: Stub) -> None:
    # Synthetic items 5, 25, 45, ... are once-only; c0005 (favourite category 0) and others
    # bought some. No strategy, batch or cart brings them back to their buyers.
    customers = [f"c{i:04d}" for i in range(60)]
    strategies = [pb.STRATEGY_UNSPECIFIED, pb.STRATEGY_BUY_AGAIN, pb.STRATEGY_DISCOVER_NEW]
    once_only = {f"i{i:03d}" for i in range(5, 120, 20)}
    checked = 0
    for strategy in strategies:
        request = pb.RecommendBatchRequest(
            customer_ids=customers, limit=120, strategy=strategy, explain=True
        )
        for answer in stub.RecommendBatch(request):
            bought = _bought(answer.customer_id) & once_only
            checked += len(bought)
            assert not bought & {item.item_id for item in answer.items}
    assert checked > 0


def test_recommend_filters_and_cart(stub: Stub) -> None:
    answer = stub.Recommend(
        pb.RecommendRequest(
            customer_id="c0003",
            context_item_ids=["i000", "i001"],
            filter=pb.ItemFilter(
                only_categories=["cat0", "cat1"], exclude_item_ids=["i005"], in_stock_only=True
            ),
            limit=30,
        )
    )
    returned = {item.item_id for item in answer.items}
    assert len(returned) == 30
    assert not returned & {"i000", "i001", "i005"}
    assert all(int(item_id[1:]) % 5 in (0, 1) and int(item_id[1:]) % 7 != 3 for item_id in returned)


def test_recommend_cold_customer(stub: Stub) -> None:
    answer = stub.Recommend(pb.RecommendRequest(customer_id="never-seen", limit=5))
    assert answer.fallback == pb.FALLBACK_COLD_CUSTOMER
    assert [item.reason for item in answer.items] == [pb.REASON_POPULAR] * 5


def test_recommend_batch_streams_in_request_order(stub: Stub) -> None:
    customers = ["c0010", "nobody", "c0011", "c0010"]
    answers = list(stub.RecommendBatch(pb.RecommendBatchRequest(customer_ids=customers, limit=3)))
    assert [a.customer_id for a in answers] == customers
    assert [len(a.items) for a in answers] == [3, 3, 3, 3]
    assert answers[1].fallback == pb.FALLBACK_COLD_CUSTOMER
    assert answers[0].items == answers[3].items


def test_recommend_batch_stops_when_the_client_cancels(server: RunningServer, stub: Stub) -> None:
    customers = [f"c{i % 200:04d}" for i in range(10_000)]
    call = stub.RecommendBatch(pb.RecommendBatchRequest(customer_ids=customers))
    received = [next(call) for _ in range(5)]
    call.cancel()
    assert len(received) == 5
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    # The server is free again and answers at once.
    assert stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=5).items


def test_bundle(stub: Stub) -> None:
    answer = stub.Bundle(pb.BundleRequest(item_ids=["i010", "unknown"], limit=3))
    assert answer.items[0].item_id == "i011"  # the planted partner
    first = answer.items[0]
    assert first.reason == pb.REASON_BOUGHT_TOGETHER and list(first.because_item_ids) == ["i010"]
    assert (
        0 < first.confidence <= 1
        and first.lift > 1
        and 0 < first.support < 1
        and first.co_purchase_count > 0
    )
    fallback = stub.Bundle(pb.BundleRequest(item_ids=["unknown"], limit=3))
    assert fallback.fallback == pb.FALLBACK_UNKNOWN_ITEM
    assert [item.reason for item in fallback.items] == [pb.REASON_POPULAR] * 3


def test_similar_items_and_customers(stub: Stub) -> None:
    items = stub.SimilarItems(pb.SimilarItemsRequest(item_id="i000", limit=4))
    assert len(items.items) == 4 and "i000" not in {i.item_id for i in items.items}
    assert all(i.reason == pb.REASON_SIMILAR for i in items.items)
    customers = stub.SimilarCustomers(pb.SimilarCustomersRequest(customer_id="c0000", limit=3))
    assert len(customers.customers) == 3 and "c0000" not in {
        c.customer_id for c in customers.customers
    }
    scores = [c.score for c in customers.customers]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)


def test_lookalike(stub: Stub) -> None:
    answer = stub.Lookalike(
        pb.LookalikeRequest(seed_customer_ids=["c0000", "ghost"], seed_item_ids=["i002"])
    )
    assert answer.seed_size > 1
    assert len(answer.customers) == 100
    assert "c0000" not in {c.customer_id for c in answer.customers}


def test_model_info(stub: Stub, snapshot_dir: Path) -> None:
    info = stub.GetModelInfo(pb.GetModelInfoRequest())
    assert info.model_version == (snapshot_dir / "LATEST").read_text().strip()
    assert info.schema_version == 3
    assert (
        info.counts["customers"] == 200 and info.counts["items"] == 120 and info.counts["rules"] > 0
    )
    assert info.parameters["blend.buy_again_weight"] == "0.5"
    assert info.parameters["buy_again.due_weight"] == "0.5"
    assert info.created_at.seconds > 0
    assert "fit_seconds" in info.metrics


def _status(call: Any, request: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        result = call(request)
        if not hasattr(result, "items") and not hasattr(result, "customers"):
            list(result)  # a stream raises while it is read
    error = caught.value
    violations: dict[str, str] = {}
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                violations.update({v.field: v.description for v in bad_request.field_violations})
    return error.code(), error.details() or "", violations


LONG_ID = "x" * 257
INVALID_REQUESTS = [
    ("Recommend", pb.RecommendRequest(), "customer_id"),
    ("Recommend", pb.RecommendRequest(customer_id=LONG_ID), "customer_id"),
    ("Recommend", pb.RecommendRequest(customer_id="c1", limit=-1), "limit"),
    ("Recommend", pb.RecommendRequest(customer_id="c1", limit=501), "limit"),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", context_item_ids=["i"] * 101),
        "context_item_ids",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", context_item_ids=["i", ""]),
        "context_item_ids[1]",
    ),
    ("Recommend", pb.RecommendRequest(customer_id="c1", strategy=9), "strategy"),  # type: ignore[arg-type]
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(exclude_item_ids=["i"] * 1001)),
        "filter.exclude_item_ids",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(only_categories=["k"] * 101)),
        "filter.only_categories",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(min_price=5, max_price=1)),
        "filter.min_price",
    ),
    (
        "Recommend",
        pb.RecommendRequest(customer_id="c1", filter=pb.ItemFilter(max_price=float("nan"))),
        "filter.max_price",
    ),
    ("RecommendBatch", pb.RecommendBatchRequest(), "customer_ids"),
    ("RecommendBatch", pb.RecommendBatchRequest(customer_ids=["c"] * 10_001), "customer_ids"),
    ("RecommendBatch", pb.RecommendBatchRequest(customer_ids=["c1", LONG_ID]), "customer_ids[1]"),
    ("Bundle", pb.BundleRequest(), "item_ids"),
    ("Bundle", pb.BundleRequest(item_ids=["i"] * 101), "item_ids"),
    ("SimilarItems", pb.SimilarItemsRequest(item_id=""), "item_id"),
    ("SimilarCustomers", pb.SimilarCustomersRequest(customer_id="c1", limit=10_001), "limit"),
    ("Lookalike", pb.LookalikeRequest(), "seed_customer_ids"),
    ("Lookalike", pb.LookalikeRequest(seed_item_ids=["i1"], limit=-5), "limit"),
]


@pytest.mark.parametrize(("method", "request_message", "field"), INVALID_REQUESTS)
def test_invalid_argument_names_the_field(
    stub: Stub, method: str, request_message: Any, field: str
) -> None:
    code, details, violations = _status(getattr(stub, method), request_message)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations, violations
    assert field in details


def test_many_violations_are_reported_together_but_capped(stub: Stub) -> None:
    request = pb.RecommendBatchRequest(customer_ids=[""] * 50, limit=-1)
    _code, _details, violations = _status(stub.RecommendBatch, request)
    assert "limit" in violations and "customer_ids[0]" in violations and "(more)" in violations
    assert len(violations) == 21


@pytest.mark.parametrize(
    ("method", "request_message", "needle"),
    [
        ("SimilarItems", pb.SimilarItemsRequest(item_id="nope"), "nope"),
        ("SimilarCustomers", pb.SimilarCustomersRequest(customer_id="ghost"), "ghost"),
        (
            "Lookalike",
            pb.LookalikeRequest(seed_customer_ids=["ghost"], seed_item_ids=["nope"]),
            "seed",
        ),
    ],
)
def test_not_found(stub: Stub, method: str, request_message: Any, needle: str) -> None:
    code, details, _ = _status(getattr(stub, method), request_message)
    assert code == grpc.StatusCode.NOT_FOUND
    assert needle in details


def test_unavailable_without_a_snapshot(tmp_path: Path) -> None:
    with running_server(tmp_path) as empty, grpc.insecure_channel(empty.target) as channel:
        stub = Stub(channel)
        for method, request in [
            ("Recommend", pb.RecommendRequest(customer_id="c1")),
            ("RecommendBatch", pb.RecommendBatchRequest(customer_ids=["c1"])),
            ("GetModelInfo", pb.GetModelInfoRequest()),
        ]:
            code, details, _ = _status(getattr(stub, method), request)
            assert code == grpc.StatusCode.UNAVAILABLE
            assert "no snapshot" in details


def test_unexpected_errors_become_internal_and_are_logged(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(servicer, "similar_items", broken)
    with caplog.at_level(logging.ERROR):
        code, details, _ = _status(stub.SimilarItems, pb.SimilarItemsRequest(item_id="i000"))
    assert code == grpc.StatusCode.INTERNAL
    assert "a bug" not in details  # internals stay in the log
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


def test_metrics_endpoint(snapshot_dir: Path) -> None:
    with (
        running_server(snapshot_dir, metrics_port=0) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = Stub(channel)
        stub.Recommend(pb.RecommendRequest(customer_id="nobody"))
        _status(stub.Recommend, pb.RecommendRequest())
        list(stub.RecommendBatch(pb.RecommendBatchRequest(customer_ids=["c0001", "c0002"])))
        url = f"http://127.0.0.1:{running.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    for name in [
        "basketry_requests_total",
        "basketry_request_duration_seconds_bucket",
        "basketry_requests_in_flight",
        "basketry_snapshot_info",
        "basketry_snapshot_age_seconds",
        "basketry_snapshot_load_duration_seconds",
        "basketry_snapshot_load_failures_total",
        "basketry_snapshot_customers",
        "basketry_snapshot_items",
        "basketry_snapshot_rules",
        "basketry_fallbacks_total",
        "basketry_response_items_bucket",
    ]:
        assert name in text, name
    assert 'basketry_requests_total{code="OK",method="Recommend"} 1.0' in text
    assert 'basketry_requests_total{code="INVALID_ARGUMENT",method="Recommend"} 1.0' in text
    assert 'basketry_requests_total{code="OK",method="RecommendBatch"} 1.0' in text
    assert 'basketry_fallbacks_total{reason="cold_customer"} 1.0' in text
    assert 'le="0.0005"' in text
    assert "basketry_snapshot_customers 200.0" in text


@functools.cache
def _bought(customer: str) -> set[str]:
    """What the default synthetic snapshot (the server's) says the customer bought."""
    arrays, _ = _synthetic()
    index = list(arrays["customer_ids"]).index(customer)
    start, end = arrays["history_indptr"][index], arrays["history_indptr"][index + 1]
    return {str(arrays["item_ids"][i]) for i in arrays["history_items"][start:end]}


@functools.cache
def _synthetic() -> tuple[dict[str, Any], dict[str, int]]:
    return synthetic_arrays()
