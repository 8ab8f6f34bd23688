"""The in-process OrderStore: the default without a shared store, bounded in memory.

Limits (measured with tracemalloc on 20-line orders and 14-character ids):
- at most `max_orders` orders are held (ServerSettings.max_recorded_orders, default 50,000;
  a 20-line order costs ~3.8 KB of Python objects, so ~190 MB at the cap). Beyond it the
  oldest recorded order is evicted: its customer's picks lose it until the next training
  includes it. Every eviction is counted (`on_evict`) and logged, never silent.
- at most `max_order_ids` order ids are remembered for idempotency (held orders and
  expired ones; default 500,000, ~155 bytes each, ~80 MB). Beyond it the oldest id is
  forgotten, and with it its order if still held: a retry of that order after so long
  would be accepted again.
State is lost on restart; a shared store (Redis) is the answer to that and to replicas.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence

from basketry.server.orders import OrderStore, RecordedOrder, RecordOutcome

log = logging.getLogger(__name__)

DEFAULT_MAX_ORDERS = 50_000
DEFAULT_MAX_ORDER_IDS = 500_000


class InMemoryOrderStore(OrderStore):
    def __init__(
        self,
        *,
        max_orders: int = DEFAULT_MAX_ORDERS,
        max_order_ids: int = DEFAULT_MAX_ORDER_IDS,
        on_evict: Callable[[int], None] | None = None,
    ) -> None:
        if max_orders < 1 or max_order_ids < max_orders:
            raise ValueError(
                f"need 1 <= max_orders <= max_order_ids, got {max_orders} and {max_order_ids}"
            )
        self.max_orders = max_orders
        self.max_order_ids = max_order_ids
        self._on_evict = on_evict
        self._lock = threading.Lock()
        # Insertion order is recording order: the first entries are the oldest.
        self._orders: OrderedDict[str, RecordedOrder] = OrderedDict()
        self._by_customer: dict[str, list[RecordedOrder]] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()

    def record(self, orders: Sequence[RecordedOrder]) -> RecordOutcome:
        accepted = duplicates = evicted = 0
        with self._lock:
            for order in orders:
                if order.order_id in self._ids:
                    duplicates += 1
                    continue
                self._orders[order.order_id] = order
                self._by_customer.setdefault(order.customer_id, []).append(order)
                accepted += 1
                evicted += self._remember_id(order.order_id)
                if len(self._orders) > self.max_orders:
                    self._forget(next(iter(self._orders.values())))
                    evicted += 1
        if evicted:
            log.warning(
                "recorded-order store is full (%d orders): evicted the %d oldest; their "
                "customers' picks lose them until the next training includes them "
                "(raise --max-recorded-orders or retrain more often)",
                self.max_orders,
                evicted,
            )
            if self._on_evict is not None:
                self._on_evict(evicted)
        return RecordOutcome(accepted=accepted, duplicates=duplicates)

    def orders_of(self, customer_ids: Iterable[str]) -> dict[str, tuple[RecordedOrder, ...]]:
        found: dict[str, tuple[RecordedOrder, ...]] = {}
        with self._lock:
            if not self._by_customer:
                return found
            for customer_id in customer_ids:
                orders = self._by_customer.get(customer_id)
                if orders:
                    found[customer_id] = tuple(orders)
        # Recording order is not time order (late or backfilled orders): sort outside the lock.
        return {
            customer_id: tuple(sorted(orders, key=lambda o: (o.timestamp, o.order_id)))
            for customer_id, orders in found.items()
        }

    def expire_through(self, timestamp: int) -> int:
        with self._lock:
            stale = [o for o in self._orders.values() if o.timestamp <= timestamp]
            for order in stale:
                self._forget(order)  # the id stays remembered: a retry is still a duplicate
        if stale:
            log.info(
                "dropped %d recorded orders at or before %d: the serving snapshot includes them",
                len(stale),
                timestamp,
            )
        return len(stale)

    def held(self) -> int:
        return len(self._orders)

    def export(self, since_ts: int | None = None) -> Iterator[RecordedOrder]:
        # A copy under the lock (orders are immutable): recording can go on while it is read.
        with self._lock:
            held = list(self._orders.values())
        if since_ts is not None:
            held = [order for order in held if order.timestamp > since_ts]
        return iter(sorted(held, key=lambda o: (o.timestamp, o.order_id)))

    def _remember_id(self, order_id: str) -> int:
        """Remember the id, forgetting the oldest beyond the cap; returns orders evicted (0/1)."""
        self._ids[order_id] = None
        if len(self._ids) <= self.max_order_ids:
            return 0
        forgotten, _ = self._ids.popitem(last=False)
        # Usually an expired order's id. A held order whose id is forgotten must go too, or
        # a retry of it would be accepted again and count twice.
        order = self._orders.get(forgotten)
        if order is None:
            return 0
        self._forget(order)
        return 1

    def _forget(self, order: RecordedOrder) -> None:
        del self._orders[order.order_id]
        customer_orders = self._by_customer[order.customer_id]
        customer_orders.remove(order)
        if not customer_orders:
            del self._by_customer[order.customer_id]
