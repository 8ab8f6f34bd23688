"""Every BasketryClient method against a real server on a synthetic snapshot."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from support.servers import RunningServer

from basketry.client import (
    BasketryClient,
    Fallback,
    InvalidArgument,
    ItemFilter,
    Order,
    OrderLine,
    Reason,
    RecordResult,
    Strategy,
)
from basketry.snapshot import LoadedSnapshot, load_latest


@pytest.fixture
def client(server: RunningServer) -> Iterator[BasketryClient]:
    with BasketryClient(server.target) as client:
        yield client


@pytest.fixture
def snapshot(snapshot_dir: Path) -> LoadedSnapshot:
    return load_latest(snapshot_dir)


def item_index(snapshot: LoadedSnapshot, item_id: str) -> int:
    return int(np.flatnonzero(snapshot.arrays["item_ids"] == item_id)[0])


def test_model_info_describes_the_serving_snapshot(
    client: BasketryClient, snapshot: LoadedSnapshot
) -> None:
    info = client.model_info()
    assert info.model_version == snapshot.version
    assert isinstance(info.created_at, datetime)
    assert info.created_at.tzinfo is not None
    assert info.schema_version >= 1
    assert info.counts["customers"] == 200
    assert info.counts["items"] == 120
    assert info.parameters["als.factors"] == "16"
    assert "fit_seconds" in info.metrics


def test_recommend_returns_personal_picks_with_names_and_explanations(
    client: BasketryClient, snapshot: LoadedSnapshot
) -> None:
    answer = client.recommend("c0000", limit=5, explain=True)
    assert answer.model_version == snapshot.version
    assert answer.fallback is None
    assert len(answer.items) == 5
    assert [i.score for i in answer.items] == sorted((i.score for i in answer.items), reverse=True)
    for item in answer.items:
        assert item.name == snapshot.arrays["item_names"][item_index(snapshot, item.item_id)]
        assert item.reason in (Reason.PERSONALIZED, Reason.BUY_AGAIN, Reason.BOUGHT_TOGETHER)
        index = item_index(snapshot, item.item_id)
        expected = snapshot.arrays["item_repeat_probability"][index]
        assert item.repeat_probability == pytest.approx(float(expected))
    assert any(item.because_item_ids for item in answer.items)
    plain = client.recommend("c0000", limit=5).items
    assert not any(i.because_item_ids or i.repeat_probability for i in plain)
    assert len(client.recommend("c0000").items) == 10


def test_strategies_split_repeat_and_new_items(client: BasketryClient) -> None:
    again = client.recommend("c0000", limit=20, strategy=Strategy.BUY_AGAIN)
    new = client.recommend("c0000", limit=20, strategy="discover-new")
    assert again.items and new.items
    assert {i.reason for i in again.items} == {Reason.BUY_AGAIN}
    assert Reason.BUY_AGAIN not in {i.reason for i in new.items}
    assert not {i.item_id for i in again.items} & {i.item_id for i in new.items}


def test_filters_and_context_reach_the_server(
    client: BasketryClient, snapshot: LoadedSnapshot
) -> None:
    unfiltered = [i.item_id for i in client.recommend("c0001", limit=5).items]
    item_filter = ItemFilter(
        exclude_item_ids=unfiltered[:2],
        only_categories=["cat1", "cat2"],
        in_stock_only=True,
        min_price=1.0,
        max_price=20.0,
    )
    answer = client.recommend("c0001", limit=30, filter=item_filter, context_item_ids=["i010"])
    assert answer.items
    categories = snapshot.arrays["categories"]
    for item in answer.items:
        index = item_index(snapshot, item.item_id)
        assert item.item_id not in (*unfiltered[:2], "i010")
        assert categories[snapshot.arrays["item_categories"][index]] in ("cat1", "cat2")
        assert snapshot.arrays["item_in_stock"][index]
        assert 1.0 <= snapshot.arrays["item_prices"][index] <= 20.0


def test_unknown_customer_gets_popular_items_as_a_cold_fallback(client: BasketryClient) -> None:
    answer = client.recommend("stranger", limit=3)
    assert answer.fallback is Fallback.COLD_CUSTOMER
    assert len(answer.items) == 3
    assert {i.reason for i in answer.items} == {Reason.POPULAR}


def test_recommend_batch_answers_in_request_order(client: BasketryClient) -> None:
    answers = list(client.recommend_batch(["c0003", "stranger", "c0001"], limit=4))
    assert [a.customer_id for a in answers] == ["c0003", "stranger", "c0001"]
    assert [a.fallback for a in answers] == [None, Fallback.COLD_CUSTOMER, None]
    single = client.recommend("c0001", limit=4)
    assert [i.item_id for i in answers[2].items] == [i.item_id for i in single.items]


def test_abandoning_a_batch_early_cancels_it_cleanly(client: BasketryClient) -> None:
    ids = [f"c{n:04d}" for n in range(200)]
    answers = client.recommend_batch(ids, limit=2, campaign="spring")
    assert next(answers).customer_id == "c0000"
    answers.close()
    assert client.model_info().counts["customers"] == 200


def test_bundle_finds_the_planted_partner(client: BasketryClient) -> None:
    bundle = client.bundle(["i000"], limit=5)
    assert bundle.fallback is None
    partner = next(i for i in bundle.items if i.item_id == "i001")
    assert partner.reason is Reason.BOUGHT_TOGETHER
    assert partner.because_item_ids == ("i000",)
    assert 0 < partner.confidence <= 1 and 0 < partner.support <= 1
    assert partner.lift > 1 and partner.co_purchase_count >= 2
    assert partner.name == "Item 001"
    assert "i000" not in {i.item_id for i in bundle.items}


def test_bundle_of_unknown_items_falls_back_to_popular(client: BasketryClient) -> None:
    bundle = client.bundle(["nope", "nada"], limit=3)
    assert bundle.fallback is Fallback.UNKNOWN_ITEM
    assert [i.reason for i in bundle.items] == [Reason.POPULAR] * 3


def test_similar_items_and_customers_leave_out_the_query(client: BasketryClient) -> None:
    items = client.similar_items("i005", limit=4)
    assert len(items.items) == 4
    assert "i005" not in {i.item_id for i in items.items}
    assert {i.reason for i in items.items} == {Reason.SIMILAR}
    customers = client.similar_customers("c0005", limit=4)
    assert len(customers.customers) == 4
    assert "c0005" not in {c.customer_id for c in customers.customers}
    assert all(-1.0 <= c.score <= 1.0 for c in customers.customers)


def test_lookalike_expands_seed_items_to_their_buyers(
    client: BasketryClient, snapshot: LoadedSnapshot
) -> None:
    by_customers = client.lookalike(seed_customer_ids=["c0000", "c0001", "ghost"], limit=7)
    assert by_customers.seed_size == 2
    assert len(by_customers.customers) == 7
    assert not {"c0000", "c0001"} & {c.customer_id for c in by_customers.customers}
    by_item = client.lookalike(seed_item_ids=["i000"])
    assert by_item.seed_size == snapshot.arrays["item_buyers"][0]
    assert len(by_item.customers) == min(100, 200 - 2 - by_item.seed_size)
    assert all(math.isfinite(c.score) for c in by_item.customers)


def test_record_orders_counts_at_once_and_is_idempotent(client: BasketryClient) -> None:
    assert client.recommend("newcomer").fallback is Fallback.COLD_CUSTOMER
    order = Order("o-1", "newcomer", [OrderLine("i001", 2.0, 3.5), OrderLine("i002", 1.0)])
    assert client.record_orders([order]) == RecordResult(accepted=1, duplicates=0)
    assert client.record_orders([order]) == RecordResult(accepted=0, duplicates=1)
    picks = client.recommend("newcomer", strategy=Strategy.BUY_AGAIN)
    assert picks.fallback is not Fallback.COLD_CUSTOMER
    assert {"i001", "i002"} <= {item.item_id for item in picks.items}
    with pytest.raises(InvalidArgument) as caught:
        client.record_orders([Order("o-2", "newcomer", [])])
    assert [v.field for v in caught.value.field_violations] == ["orders[0].lines"]
