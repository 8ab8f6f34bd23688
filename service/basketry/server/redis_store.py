"""The Redis-backed OrderStore: recorded orders shared by every replica, surviving restarts.

Keys (all under a configurable prefix, default "basketry:"):
  order_ids            set of every recorded order id (held and expired: a retry of an
                       expired order stays a duplicate)
  orders:<customer>    sorted set of the customer's held orders, JSON, scored by timestamp
  customers            sorted set of customers holding orders, scored by their oldest one
                       (so expiry visits only customers with something to drop)
  held                 count of held orders

Recording runs as one Lua script per call: an id is added to `order_ids` and its order to
the customer's set in the same atomic step, so a crash can neither lose an accepted order
nor keep an id without its order, and concurrent callers recording the same id see exactly
one acceptance. The scripts name keys built from the prefix inside Lua, so this needs one
Redis server (or a primary with replicas), not Redis Cluster.

`export` reads every held order in batches of customers (ZSCAN, one pipelined read per
batch) for `basketry export-orders`.

Limits: `order_ids` grows by every order ever recorded (~70 bytes per 14-character id);
nothing trims it yet. Every Redis failure is counted (`on_error`) and raised as
OrderStoreUnavailable; the callers decide what it means (RecordOrders answers UNAVAILABLE,
Recommend answers from the snapshot alone). With a `breaker` (basketry.server.circuit), a
Redis that keeps failing is left alone for a while: calls raise the same
OrderStoreUnavailable at once, counted by `on_short_circuit` instead, so a hung Redis does
not cost every request its timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import redis

from basketry.server.circuit import CircuitBreaker
from basketry.server.orders import (
    OrderStore,
    OrderStoreUnavailable,
    RecordedLine,
    RecordedOrder,
    RecordOutcome,
)
from basketry.server.redis_calls import redis_call

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "basketry:"
# Customers whose orders one expiry script handles: bounds how long Redis is busy at a time.
EXPIRY_BATCH = 500
# Customers whose orders one export round trip reads: bounds each reply, never blocks Redis.
EXPORT_BATCH = 500

_RECORD = """
local accepted = 0
for i = 1, #KEYS - 3 do
  local at = (i - 1) * 4
  if redis.call('SADD', KEYS[1], ARGV[at + 1]) == 1 then
    redis.call('ZADD', KEYS[3 + i], ARGV[at + 2], ARGV[at + 4])
    redis.call('ZADD', KEYS[2], 'LT', ARGV[at + 2], ARGV[at + 3])
    accepted = accepted + 1
  end
end
if accepted > 0 then redis.call('INCRBY', KEYS[3], accepted) end
return accepted
"""

# KEYS: customers, held. ARGV: timestamp, customer key prefix, batch size.
# Returns {orders dropped, customers visited}; the caller repeats while customers remain.
_EXPIRE = """
local dropped = 0
local customers = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, customer in ipairs(customers) do
  local key = ARGV[2] .. customer
  dropped = dropped + redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #oldest == 0 then
    redis.call('ZREM', KEYS[1], customer)
  else
    redis.call('ZADD', KEYS[1], oldest[2], customer)
  end
end
if dropped > 0 then redis.call('DECRBY', KEYS[2], dropped) end
return {dropped, #customers}
"""


def redacted(url: str) -> str:
    """`url` without its password, fit for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port is not None else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()


class RedisOrderStore(OrderStore):
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        address: str = "redis",
        on_error: Callable[[str], None] | None = None,
        breaker: CircuitBreaker | None = None,
        on_short_circuit: Callable[[str], None] | None = None,
    ) -> None:
        """Without a `breaker` every call goes to Redis."""
        if not prefix:
            raise ValueError("the Redis key prefix must not be empty")
        self.client = client
        self.prefix = prefix
        self.address = address  # for messages only: never holds a password
        self.breaker = breaker
        self._on_error = on_error
        self._on_short_circuit = on_short_circuit
        self._ids_key = f"{prefix}order_ids"
        self._customers_key = f"{prefix}customers"
        self._held_key = f"{prefix}held"
        self._orders_prefix = f"{prefix}orders:"
        self._record = client.register_script(_RECORD)
        self._expire = client.register_script(_EXPIRE)

    def record(self, orders: Sequence[RecordedOrder]) -> RecordOutcome:
        if not orders:
            return RecordOutcome(accepted=0, duplicates=0)
        keys = [self._ids_key, self._customers_key, self._held_key]
        keys += [self._orders_prefix + order.customer_id for order in orders]
        args: list[str | int] = []
        for order in orders:
            args += [order.order_id, order.timestamp, order.customer_id, _encode(order)]
        with self._calling("record"):
            accepted = int(self._record(keys=keys, args=args))
        return RecordOutcome(accepted=accepted, duplicates=len(orders) - accepted)

    def orders_of(self, customer_ids: Iterable[str]) -> dict[str, tuple[RecordedOrder, ...]]:
        wanted = list(dict.fromkeys(customer_ids))
        if not wanted:
            return {}
        with self._calling("orders_of"):
            pipeline = self.client.pipeline(transaction=False)
            for customer_id in wanted:
                pipeline.zrange(self._orders_prefix + customer_id, 0, -1)
            replies: list[list[str]] = pipeline.execute()
        found: dict[str, tuple[RecordedOrder, ...]] = {}
        for customer_id, encoded in zip(wanted, replies, strict=True):
            if encoded:
                orders = (_decode(entry) for entry in encoded)
                found[customer_id] = tuple(sorted(orders, key=lambda o: (o.timestamp, o.order_id)))
        return found

    def expire_through(self, timestamp: int) -> int:
        dropped = 0
        with self._calling("expire_through"):
            while True:
                removed, visited = self._expire(
                    keys=[self._customers_key, self._held_key],
                    args=[timestamp, self._orders_prefix, EXPIRY_BATCH],
                )
                dropped += int(removed)
                if int(visited) < EXPIRY_BATCH:
                    break
        if dropped:
            log.info(
                "dropped %d recorded orders at or before %d from %s: the serving snapshot "
                "includes them",
                dropped,
                timestamp,
                self.address,
            )
        return dropped

    def held(self) -> int:
        with self._calling("held"):
            value = self.client.get(self._held_key)
        return int(value) if value is not None else 0

    def export(
        self, since_ts: int | None = None, *, batch_size: int = EXPORT_BATCH
    ) -> Iterator[RecordedOrder]:
        """Walks `customers` with ZSCAN (never KEYS: Redis stays responsive) and reads each
        batch's orders in one pipelined round trip. ZSCAN may return a customer twice; a
        customer is read once."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        low = "-inf" if since_ts is None else f"({since_ts}"
        seen: set[str] = set()
        cursor = 0
        while True:
            with self._calling("export"):
                cursor, scanned = self.client.zscan(
                    self._customers_key, cursor=cursor, count=batch_size
                )
                # Members are str (decode_responses); the stubs type them loosely.
                members = (str(customer) for customer, _ in scanned)
                customers = [c for c in dict.fromkeys(members) if c not in seen]
                pipeline = self.client.pipeline(transaction=False)
                for customer_id in customers:
                    pipeline.zrangebyscore(self._orders_prefix + customer_id, low, "+inf")
                replies: list[list[str]] = pipeline.execute() if customers else []
            seen.update(customers)
            for encoded in replies:
                yield from (_decode(entry) for entry in encoded)
            if cursor == 0:
                return

    def _calling(self, operation: str) -> AbstractContextManager[None]:
        return redis_call(
            operation,
            store=f"recorded-order store {self.address}",
            breaker=self.breaker,
            on_short_circuit=self._on_short_circuit,
            on_error=self._on_error,
            error=lambda message, _refused: OrderStoreUnavailable(message),
        )


def _encode(order: RecordedOrder) -> str:
    lines = [[line.item_id, line.quantity, line.price] for line in order.lines]
    document = {"id": order.order_id, "customer": order.customer_id, "ts": order.timestamp}
    return json.dumps({**document, "lines": lines}, separators=(",", ":"), allow_nan=False)


def _decode(encoded: str) -> RecordedOrder:
    document: dict[str, Any] = json.loads(encoded)
    return RecordedOrder(
        order_id=str(document["id"]),
        customer_id=str(document["customer"]),
        timestamp=int(document["ts"]),
        lines=tuple(
            RecordedLine(str(item), float(quantity), None if price is None else float(price))
            for item, quantity, price in document["lines"]
        ),
    )
