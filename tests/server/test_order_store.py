"""The OrderStore contract, run against every store (in process and Redis), and the
in-process store's own limits.

The Redis cases need a real redis-server (tests/support/redis_server.py): without one they
skip, except in CI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from support.redis_server import RedisServer

from basketry.server.memory_store import InMemoryOrderStore
from basketry.server.orders import OrderStore, RecordedLine, RecordedOrder, RecordOutcome
from basketry.server.redis_store import RedisOrderStore
from basketry.snapshot.redis_connection import redis_client

LINE = (RecordedLine("a", 1.0),)


def order(order_id: str, customer: str = "c1", at: int = 100) -> RecordedOrder:
    return RecordedOrder(order_id, customer, at, LINE)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[OrderStore]:
    if request.param == "memory":
        yield InMemoryOrderStore()
        return
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    client = redis_client(redis_server.url)
    yield RedisOrderStore(client, prefix="test:")
    client.close()


def test_a_repeated_order_id_is_a_duplicate_and_changes_nothing(store: OrderStore) -> None:
    assert store.record([order("o1"), order("o1", at=999)]) == RecordOutcome(1, 1)
    assert store.record([order("o1", customer="c2")]) == RecordOutcome(0, 1)
    assert store.orders_of(["c1", "c2"]) == {"c1": (order("o1"),)}
    assert store.held() == 1


def test_orders_come_back_oldest_first_per_customer(store: OrderStore) -> None:
    store.record([order("late", at=300), order("early", at=100), order("other", "c2")])
    store.record([order("same-b", at=200), order("same-a", at=200)])
    assert [o.order_id for o in store.orders_of(["c1"])["c1"]] == [
        "early",
        "same-a",
        "same-b",
        "late",
    ]
    assert set(store.orders_of(["c1", "c2", "c3"])) == {"c1", "c2"}
    assert store.orders_of([]) == {}


def test_orders_keep_every_field(store: OrderStore) -> None:
    full = RecordedOrder(
        "o-ü 1", "kund:é", 1_700_000_123, (RecordedLine("x", 2.5, 9.99), RecordedLine("y", 1.0))
    )
    store.record([full])
    assert store.orders_of(["kund:é"]) == {"kund:é": (full,)}


def test_expiry_drops_covered_orders_and_keeps_their_ids(store: OrderStore) -> None:
    store.record([order("old", at=100), order("edge", at=200), order("new", at=201)])
    store.record([order("gone", "c2", at=150)])
    assert store.expire_through(200) == 3
    assert store.expire_through(200) == 0
    assert store.orders_of(["c1", "c2"]) == {"c1": (order("new", at=201),)}
    assert store.held() == 1
    assert store.record([order("old", at=100), order("gone", "c2")]) == RecordOutcome(0, 2)
    assert store.held() == 1


def test_held_counts_orders_across_customers(store: OrderStore) -> None:
    assert store.held() == 0
    store.record([order(f"o{i}", f"c{i % 3}", at=100 + i) for i in range(10)])
    assert store.held() == 10
    assert sum(len(held) for held in store.orders_of(["c0", "c1", "c2"]).values()) == 10


def test_threads_recording_the_same_ids_accept_each_exactly_once(store: OrderStore) -> None:
    ids = [f"o{i}" for i in range(50)]
    outcomes: list[RecordOutcome] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def record_all(offset: int) -> None:
        start.wait()
        for at in range(0, len(ids), 5):
            batch = ids[(at + offset * 5) % len(ids) :][:5]
            outcome = store.record([order(i, f"c{i[-1]}") for i in batch])
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=record_all, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.accepted for o in outcomes) == len(ids)
    assert sum(o.accepted + o.duplicates for o in outcomes) == 8 * len(ids)
    assert store.held() == len(ids)
    held = store.orders_of([f"c{d}" for d in range(10)])
    assert sorted(o.order_id for orders in held.values() for o in orders) == sorted(ids)


# The in-process store's own limits (Redis holds what it is given; see redis_store.py).


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
