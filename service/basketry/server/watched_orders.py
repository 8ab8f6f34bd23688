"""An OrderStore that notes whether the store failed to answer, for one computation.

Recommend answers from the snapshot alone when the recorded-order store is down (see
basketry.server.chunk); such a degraded answer must not be cached, or it would outlive the
outage by the cache's TTL. Wrap the store for one request and read `failed` afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from basketry.server.orders import OrderStore, OrderStoreUnavailable, RecordedOrder, RecordOutcome


class WatchedOrders:
    """Implements OrderStore by delegating to `store`."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store
        self.failed = False

    def orders_of(self, customer_ids: Iterable[str]) -> dict[str, tuple[RecordedOrder, ...]]:
        try:
            return self.store.orders_of(customer_ids)
        except OrderStoreUnavailable:
            self.failed = True
            raise

    def record(self, orders: Sequence[RecordedOrder]) -> RecordOutcome:
        return self.store.record(orders)

    def expire_through(self, timestamp: int) -> int:
        return self.store.expire_through(timestamp)

    def held(self) -> int:
        return self.store.held()

    def export(self, since_ts: int | None = None) -> Iterator[RecordedOrder]:
        return self.store.export(since_ts)
