"""The in-process OrderStore: idempotency, time order, bounded memory, expiry."""

from __future__ import annotations

import logging

import pytest

from basketry.server.memory_store import InMemoryOrderStore
from basketry.server.orders import RecordedLine, RecordedOrder, RecordOutcome

LINE = (RecordedLine("a", 1.0),)


def order(order_id: str, customer: str = "c1", at: int = 100) -> RecordedOrder:
    return RecordedOrder(order_id, customer, at, LINE)


def test_a_repeated_order_id_is_a_duplicate_and_changes_nothing() -> None:
    store = InMemoryOrderStore()
    assert store.record([order("o1"), order("o1", at=999)]) == RecordOutcome(1, 1)
    assert store.record([order("o1", customer="c2")]) == RecordOutcome(0, 1)
    assert store.orders_of(["c1", "c2"]) == {"c1": (order("o1"),)}
    assert store.held() == 1


def test_orders_come_back_oldest_first_per_customer() -> None:
    store = InMemoryOrderStore()
    store.record([order("late", at=300), order("early", at=100), order("other", "c2")])
    assert [o.order_id for o in store.orders_of(["c1"])["c1"]] == ["early", "late"]
    assert set(store.orders_of(["c1", "c2", "c3"])) == {"c1", "c2"}


def test_the_oldest_recorded_orders_are_evicted_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    evicted: list[int] = []
    store = InMemoryOrderStore(max_orders=2, max_order_ids=10, on_evict=evicted.append)
    store.record([order("o1"), order("o2", "c2")])
    with caplog.at_level(logging.WARNING):
        assert store.record([order("o3", "c3"), order("o4", "c3")]) == RecordOutcome(2, 0)
    assert evicted == [2]
    assert "evicted the 2 oldest" in caplog.text
    assert store.held() == 2
    assert store.orders_of(["c1", "c2", "c3"]) == {"c3": (order("o3", "c3"), order("o4", "c3"))}
    # Evicted orders' ids are still remembered: a retry stays a duplicate.
    assert store.record([order("o1")]) == RecordOutcome(0, 1)


def test_expiry_drops_covered_orders_and_keeps_their_ids() -> None:
    store = InMemoryOrderStore()
    store.record([order("old", at=100), order("edge", at=200), order("new", at=201)])
    assert store.expire_through(200) == 2
    assert store.orders_of(["c1"]) == {"c1": (order("new", at=201),)}
    assert store.record([order("old", at=100)]) == RecordOutcome(0, 1)


def test_forgetting_a_held_orders_id_evicts_the_order_too() -> None:
    # A held order must never outlive its id, or a retry would count it twice.
    evicted: list[int] = []
    store = InMemoryOrderStore(max_orders=2, max_order_ids=3, on_evict=evicted.append)
    store.record([order("kept", at=500), order("expires", at=100)])
    store.expire_through(100)
    store.record([order("o3", at=600), order("o4", at=700)])  # 4 ids: "kept" is forgotten
    assert [o.order_id for o in store.orders_of(["c1"])["c1"]] == ["o3", "o4"]
    assert evicted == [1]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_orders <= max_order_ids"):
        InMemoryOrderStore(max_orders=10, max_order_ids=5)
