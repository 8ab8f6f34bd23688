"""The orders a soak load generator sends to RecordOrders, and what became of them.

An order answered OK is accepted (the soak test later looks for it in Redis). One answered
UNAVAILABLE after the client's retries was not accepted (the server's contract: it did not
confirm the write); the generator keeps it and re-sends it, as a shop's checkout would, in
calls of up to RESEND_BATCH orders, until it is accepted or the run gives up on it. An order
id is never reused, so a re-sent order that had in fact been stored counts as a duplicate.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from basketry.client import BasketryClient, BasketryClientError, Order, OrderLine, Unavailable

RESEND_BATCH = 100  # deferred orders per re-sending RecordOrders call


class Orders:
    """Order ids sent to RecordOrders: accepted, or deferred until Redis is back."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.sequence = 0
        self.accepted: list[tuple[str, str]] = []  # (order id, customer id)
        self.deferred: list[Order] = []
        self.refused: list[Order] = []  # re-sent and refused with another code: never accepted
        self.deferred_total = 0
        self.accepted_on_resend = 0
        self.resend_calls: Counter[str] = Counter()

    def new_order(self, rng: random.Random, customers: list[str], items: list[str]) -> Order:
        with self.lock:
            self.sequence += 1
            order_id = f"{self.prefix}-{self.sequence}"
        lines = [OrderLine(item, float(rng.randint(1, 3))) for item in rng.sample(items, 2)]
        return Order(order_id, rng.choice(customers), lines)

    def done(self, orders: list[Order], outcome: str, *, resend: bool) -> None:
        with self.lock:
            if outcome == "OK":
                self.accepted += [(order.order_id, order.customer_id) for order in orders]
                if resend:
                    self.accepted_on_resend += len(orders)
            elif outcome == "UNAVAILABLE":
                self.deferred += orders
                if not resend:
                    self.deferred_total += len(orders)

    def take_deferred(self) -> list[Order]:
        with self.lock:
            taken, self.deferred = self.deferred[:RESEND_BATCH], self.deferred[RESEND_BATCH:]
            return taken

    def resend(self, client: BasketryClient) -> None:
        """One RecordOrders call for up to RESEND_BATCH deferred orders, if any."""
        batch = self.take_deferred()
        if not batch:
            return
        try:
            client.record_orders(batch)
            outcome = "OK"
        except Unavailable:
            outcome = "UNAVAILABLE"
        except BasketryClientError as exc:
            outcome = exc.code.name if exc.code is not None else "CLIENT_ERROR"
        with self.lock:
            self.resend_calls[outcome] += 1
        if outcome in ("OK", "UNAVAILABLE"):
            self.done(batch, outcome, resend=True)
        else:
            with self.lock:
                self.refused += batch
