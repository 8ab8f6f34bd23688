"""OrderStore.export: every held order once, `since_ts` respected, expired orders gone."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support.redis_server import RedisServer

from basketry.server.memory_store import InMemoryOrderStore
from basketry.server.orders import OrderStore, RecordedLine, RecordedOrder
from basketry.server.redis_store import RedisOrderStore
from basketry.snapshot.redis_connection import redis_client


def an_order(order_id: str, customer_id: str, timestamp: int) -> RecordedOrder:
    lines = (RecordedLine("i1", 2.0, 1.25), RecordedLine("i2", 0.5, None))
    return RecordedOrder(order_id, customer_id, timestamp, lines)


# 7 customers (more than one Redis batch of 3), 2 orders each at 100+i and 200+i.
ORDERS = [an_order(f"o{i}-{t}", f"cust-{i}", t + i) for i in range(7) for t in (100, 200)]


Export = Callable[[int | None], Iterator[RecordedOrder]]


def exported_by_id(export: Export, since_ts: int | None = None) -> dict[str, RecordedOrder]:
    orders = list(export(since_ts))
    by_id = {order.order_id: order for order in orders}
    assert len(by_id) == len(orders), "an order was exported twice"
    return by_id


def check_export(store: OrderStore, export: Export) -> None:
    assert store.record(ORDERS).accepted == len(ORDERS)
    assert exported_by_id(export) == {order.order_id: order for order in ORDERS}
    newer = exported_by_id(export, since_ts=203)
    assert sorted(newer) == ["o4-200", "o5-200", "o6-200"]
    store.expire_through(150)
    assert sorted(exported_by_id(export)) == sorted(f"o{i}-200" for i in range(7))
    store.expire_through(10_000)
    assert exported_by_id(export) == {}


def test_the_in_memory_store_exports_what_it_holds() -> None:
    store = InMemoryOrderStore()
    check_export(store, store.export)


def test_the_redis_store_exports_what_it_holds_batch_by_batch(redis_server: RedisServer) -> None:
    store = RedisOrderStore(redis_client(redis_server.url, timeout=2.0), prefix="t:")
    # Small batches: the walk must cross several ZSCAN pages and pipelines. A small sorted
    # set is stored compactly and scanned whole whatever COUNT says; this makes it paged.
    store.client.config_set("zset-max-listpack-entries", 0)
    check_export(store, lambda since_ts: store.export(since_ts, batch_size=3))


def test_the_redis_store_refuses_a_batch_size_below_one(redis_server: RedisServer) -> None:
    store = RedisOrderStore(redis_client(redis_server.url, timeout=2.0))
    with pytest.raises(ValueError, match="batch_size"):
        list(store.export(batch_size=0))
