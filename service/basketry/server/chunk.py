"""The customers Recommend scores together: who they are, what each bought, their factors.

A chunk row's history is the customer's snapshot row or, with recorded orders newer than
the snapshot, that row merged with them (basketry.server.history); the store is asked once
per chunk, and when it cannot answer (Redis down) the chunk is scored from the snapshot
alone: recorded orders improve picks, they are not needed for an answer. Cells are gathered
into rows x items matrices so scoring is a few matrix operations per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.server.buy_again import buy_again_scores
from basketry.server.history import (
    CustomerHistory,
    merged_history,
    recorded_since,
    snapshot_history,
)
from basketry.server.model import ServingModel
from basketry.server.orders import OrderStore, OrderStoreUnavailable
from basketry.server.throttled_log import ThrottledWarning

Matrix = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

log = logging.getLogger(__name__)
_store_down = ThrottledWarning(log)


@dataclass(frozen=True)
class Chunk:
    """The customers scored together: their rows, who is warm, and what each bought."""

    customers: list[int | None]  # model index per row, None for unknown ids
    recorded: dict[int, CustomerHistory]  # row -> history merged with recorded orders
    warm: Mask  # per row
    warm_factors: Matrix  # factor vector of each warm row, in row order
    bought: Mask  # rows x items
    repeat_scores: Matrix  # rows x items: buy-again score, 0 if never bought
    # Every purchase of the warm rows as (row, item, recency share) entries: what the
    # recent-partners source spreads over each purchase's partners.
    entry_rows: npt.NDArray[np.int64]
    entry_items: npt.NDArray[np.int64]
    entry_share: Matrix

    def history(self, model: ServingModel, row: int) -> CustomerHistory | None:
        """The row's purchase history (for explanations); None for an unknown customer."""
        customer = self.customers[row]
        if row in self.recorded:
            return self.recorded[row]
        return None if customer is None else snapshot_history(model, customer)


def build_chunk(
    model: ServingModel, customer_ids: Sequence[str], orders: OrderStore | None
) -> Chunk:
    customers = [model.customer_index.get(customer_id) for customer_id in customer_ids]
    recorded = _recorded_histories(model, customer_ids, customers, orders)
    warm = np.array(
        [
            recorded[row].warm
            if row in recorded
            else c is not None and bool(model.customer_warm[c])
            for row, c in enumerate(customers)
        ],
        dtype=np.bool_,
    )
    rows = np.flatnonzero(warm)
    row_list = rows.tolist()
    overlaid = np.array([row in recorded for row in row_list], dtype=np.bool_)
    from_snapshot = rows[~overlaid]
    snapshot_customers = np.array([customers[row] for row in from_snapshot], dtype=np.int64)
    starts = model.history_indptr[snapshot_customers]
    lengths = model.history_indptr[snapshot_customers + 1] - starts
    entries = concatenated_ranges(starts, lengths)
    overlays = [(row, recorded[row]) for row in row_list if row in recorded]
    entry_rows = np.concatenate(
        [np.repeat(from_snapshot, lengths)]
        + [np.full(history.items.size, row, dtype=np.int64) for row, history in overlays]
    )
    items = np.concatenate(
        [model.history_items[entries].astype(np.int64)] + [h.items for _, h in overlays]
    )
    share = np.concatenate(
        [model.history_recent_share[entries]] + [h.recent_share for _, h in overlays]
    )
    last_ts = np.concatenate([model.history_last_ts[entries]] + [h.last_ts for _, h in overlays])
    bought = np.zeros((len(customers), model.n_items), dtype=np.bool_)
    bought[entry_rows, items] = True
    repeat_scores = np.zeros((len(customers), model.n_items), dtype=np.float32)
    repeat_scores[entry_rows, items] = buy_again_scores(model, items, share, last_ts)
    warm_factors = np.empty((rows.size, model.customer_factors.shape[1]), dtype=np.float32)
    warm_factors[~overlaid] = model.customer_factors[snapshot_customers]
    for position in np.flatnonzero(overlaid).tolist():
        warm_factors[position] = recorded[row_list[position]].factors
    return Chunk(
        customers=customers,
        recorded=recorded,
        warm=warm,
        warm_factors=warm_factors,
        bought=bought,
        repeat_scores=repeat_scores,
        entry_rows=entry_rows,
        entry_items=items,
        entry_share=share.astype(np.float32, copy=False),
    )


def concatenated_ranges(
    starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """range(starts[0], starts[0] + lengths[0]) + range(starts[1], …) + …, as one array
    (the positions of several CSR rows' entries, without a Python loop)."""
    offsets = np.cumsum(lengths) - lengths
    positions: npt.NDArray[np.int64] = np.arange(int(lengths.sum()), dtype=np.int64)
    positions += np.repeat(starts - offsets, lengths)
    return positions


def _recorded_histories(
    model: ServingModel,
    customer_ids: Sequence[str],
    customers: list[int | None],
    orders: OrderStore | None,
) -> dict[int, CustomerHistory]:
    """Row -> merged history, for the rows whose customer has orders newer than the snapshot."""
    if orders is None:
        return {}
    try:
        held = orders.orders_of(customer_ids)
    except OrderStoreUnavailable as exc:
        # Counted by the store (basketry_redis_errors_total); here only the consequence.
        _store_down.warn(f"{exc.message}; answering from the snapshot alone")
        return {}
    histories: dict[int, CustomerHistory] = {}
    for row, customer_id in enumerate(customer_ids):
        newer = recorded_since(model, held.get(customer_id, ()))
        if newer:
            histories[row] = merged_history(model, customers[row], newer)
    return histories
