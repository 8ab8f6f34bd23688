"""Recorded orders and the store that holds them between trainings.

Orders recorded through RecordOrders count for Recommend at once (see basketry.server.history)
until a snapshot whose training data includes them is serving. The store is the only place
that state lives, behind `OrderStore`, so it can be in this process (InMemoryOrderStore) or
shared by several replicas (RedisOrderStore) without the serving code changing.

Expiry: an order timestamped at or before a snapshot's `input.last_order_ts` is taken to be
in that snapshot's training data (the training export holds every order up to its newest
one). Serving ignores such orders (history.recorded_since), and when a snapshot is swapped
in the store drops them (`expire_through`), keeping their ids so a client's retry of an
old order stays a duplicate instead of counting twice. Until then `export` hands the held
orders to the next training run (`basketry export-orders`), so none is lost between the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from basketry.server.errors import Unavailable


class OrderStoreUnavailable(Unavailable):
    """A shared store could not answer (down, slow, refused). RecordOrders reports it as
    UNAVAILABLE, so an order the store did not confirm is never taken as accepted; Recommend
    answers from the snapshot alone."""


@dataclass(frozen=True)
class RecordedLine:
    item_id: str
    quantity: float  # > 0, finite (checked on the way in)
    price: float | None = None


@dataclass(frozen=True)
class RecordedOrder:
    order_id: str
    customer_id: str
    timestamp: int  # unix seconds UTC
    lines: tuple[RecordedLine, ...]


@dataclass(frozen=True)
class RecordOutcome:
    accepted: int  # orders new to the store
    duplicates: int  # orders whose id was already recorded (earlier or in the same call)


class OrderStore(Protocol):
    """Where recorded orders live. Implementations are safe to call from many threads; a
    shared store raises OrderStoreUnavailable from any method when it cannot answer."""

    def record(self, orders: Sequence[RecordedOrder]) -> RecordOutcome:
        """Keep each order whose id is new; ids seen before (or twice in `orders`) change
        nothing and are counted as duplicates."""
        ...

    def orders_of(self, customer_ids: Iterable[str]) -> dict[str, tuple[RecordedOrder, ...]]:
        """The held orders of each customer that has any, oldest first (by timestamp)."""
        ...

    def expire_through(self, timestamp: int) -> int:
        """Drop held orders timestamped at or before `timestamp`; returns how many."""
        ...

    def held(self) -> int:
        """Orders held now."""
        ...

    def export(self, since_ts: int | None = None) -> Iterator[RecordedOrder]:
        """Every held order (only those timestamped after `since_ts` when given), each once,
        for the next training run (basketry.server.export). Read a little at a time: orders
        recorded or expired meanwhile may or may not be included."""
        ...
