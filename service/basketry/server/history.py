"""A customer's purchase history as the serving functions see it.

For most customers it is their row of the snapshot. For a customer with recorded orders
newer than the snapshot, it is that row merged with the orders (an overlay; the snapshot
itself never changes):
  - each recorded order adds 1 to the order count of every item it holds and its units
    to the item's units; the last purchase time moves to the order's time;
  - recency shares continue training's weighting: with decay d and the customer's n
    training orders, an item's weighted count is share x T (T = 1 + d + ... + d^(n-1));
    each new order multiplies every count and T by d and adds 1 to T and to its items;
  - a changed cell's ALS confidence is recomputed (basketry.snapshot.confidence), the
    others keep the snapshot's value, and the factor vector is folded in
    (basketry.server.foldin) from all the cells.
Order lines of items the snapshot does not know cannot be scored and are left out (the
order still counts as one of the customer's orders).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.server.foldin import fold_in
from basketry.server.model import ServingModel
from basketry.server.orders import RecordedOrder
from basketry.snapshot.confidence import confidence

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CustomerHistory:
    """Aligned per-item arrays (items ascending) and the customer's factor vector."""

    items: I64
    last_ts: I64
    confidence: F32
    recent_share: F32
    factors: F32

    @property
    def warm(self) -> bool:
        """Personal scoring needs some history and a non-zero factor vector."""
        return bool(self.items.size) and bool(np.any(self.factors))


def snapshot_history(model: ServingModel, customer: int) -> CustomerHistory:
    """The customer's snapshot row (views, no copies)."""
    row = model.history_slice(customer)
    return CustomerHistory(
        items=model.history_items[row].astype(np.int64),
        last_ts=model.history_last_ts[row],
        confidence=model.history_confidence[row],
        recent_share=model.history_recent_share[row],
        factors=model.customer_factors[customer],
    )


def recorded_since(
    model: ServingModel, orders: Sequence[RecordedOrder]
) -> tuple[RecordedOrder, ...]:
    """The orders newer than the snapshot's training data (the others are in it already)."""
    return tuple(order for order in orders if order.timestamp > model.reference_ts)


def merged_history(
    model: ServingModel, customer: int | None, orders: Sequence[RecordedOrder]
) -> CustomerHistory:
    """The snapshot row of `customer` (None: unknown to the snapshot) plus `orders`, which
    must be newer than the snapshot and sorted oldest first."""
    rule = model.fold_in
    row = model.history_slice(customer) if customer is not None else slice(0, 0)
    known = [_known_lines(model, order) for order in orders]
    base_items = model.history_items[row].astype(np.int64)
    new_items = [item for lines in known for item in lines]
    items = np.union1d(base_items, np.array(new_items, dtype=np.int64))
    at = np.searchsorted(items, base_items)

    n_orders = np.zeros(items.size, dtype=np.float64)
    units = np.zeros(items.size, dtype=np.float64)
    last_ts = np.zeros(items.size, dtype=np.int64)
    cell_confidence = np.zeros(items.size, dtype=np.float32)
    n_orders[at] = model.history_orders[row]
    units[at] = model.history_quantity[row]
    last_ts[at] = model.history_last_ts[row]
    cell_confidence[at] = model.history_confidence[row]

    decay = rule.basket_decay
    n_before = int(model.customer_orders[customer]) if customer is not None else 0
    total = float(n_before) if decay == 1.0 else (1.0 - decay**n_before) / (1.0 - decay)
    weighted = np.zeros(items.size, dtype=np.float64)
    weighted[at] = model.history_recent_share[row].astype(np.float64) * total

    changed = np.zeros(items.size, dtype=np.bool_)
    for order, lines in zip(orders, known, strict=True):
        cells = np.searchsorted(items, np.fromiter(lines, dtype=np.int64, count=len(lines)))
        n_orders[cells] += 1
        units[cells] += np.fromiter(lines.values(), dtype=np.float64, count=len(lines))
        last_ts[cells] = np.maximum(last_ts[cells], order.timestamp)
        changed[cells] = True
        weighted *= decay
        total = decay * total + 1.0
        weighted[cells] += 1.0

    cell_confidence[changed] = confidence(
        n_orders[changed], units[changed], rule.alpha, rule.units_weight
    )
    factors = fold_in(
        model.item_factors, model.item_gram, items, cell_confidence, rule.regularization
    )
    share = (weighted / total if total > 0 else weighted).astype(np.float32)
    return CustomerHistory(
        items=items,
        last_ts=last_ts,
        confidence=cell_confidence,
        recent_share=share,
        factors=factors,
    )


def _known_lines(model: ServingModel, order: RecordedOrder) -> dict[int, float]:
    """Units per snapshot item in the order (lines of one item add up)."""
    units: dict[int, float] = {}
    for line in order.lines:
        item = model.item_index.get(line.item_id)
        if item is not None:
            units[item] = units.get(item, 0.0) + line.quantity
    return units
