"""Repurchase statistics: how likely, and how soon, an item's buyers buy it again.

Per item, from each customer's sequence of orders (sorted by time):

    eligible buyers  e_i = customers who bought i and placed a later order after their first
                           purchase of it
    repeaters        r_i = of those, customers who bought i again in a later order
    repeat probability   p_i = (r_i + m * p0_i) / (e_i + m)

p0_i is the pooled rate r/e of the item's category (when the catalog gives it one and the
category has eligible buyers), else of all items; m is the strength of that beta prior in
pseudo-buyers, estimated from the data by the method of moments (the spread of the raw
rates of items with at least MOMENTS_MIN_ELIGIBLE eligible buyers, minus the binomial
noise expected at their sizes), so an item with few buyers stays near its category's rate
and one with hundreds speaks for itself.

Repurchase cycle: the median of the gaps (days) between a customer's consecutive orders
holding the item, pooled over its customers; gaps under MIN_GAP_DAYS are add-on orders,
not a new cycle, and are ignored. With fewer than MIN_CYCLE_GAPS gaps the item takes its
category's (else the global) pooled median. NaN when the item was never bought again.

Once-only: p_i below `once_only_below`. Because p_i is smoothed, only an item whose own
buyers show a low rate (enough evidence to pull it below its prior) is flagged; the server
then never offers it again to a customer who bought it.

Per customer-item cell the server also needs the customer's recency-weighted share of
orders holding the item (TIFU-KNN's personal vector with one group):

    share_ci = sum over the customer's orders k holding i of d^(n_c - 1 - k)
               / sum over all k of d^(n_c - 1 - k)                (d = basket_decay)

so the last order weighs 1, the one before d, and so on; d = 1 is the plain share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from basketry.training.matrices import History, IndexedLines

SECONDS_PER_DAY = 86_400.0
MIN_GAP_DAYS = 1.0
MIN_CYCLE_GAPS = 3
MOMENTS_MIN_ELIGIBLE = 20
MOMENTS_MIN_ITEMS = 10
# Used when too few items have enough buyers to estimate the prior's strength: two
# pseudo-buyers, a weak prior that still keeps a single buyer from deciding 0 or 1.
FALLBACK_PRIOR_STRENGTH = 2.0
PRIOR_STRENGTH_RANGE = (1.0, 1000.0)


@dataclass(frozen=True)
class RepurchaseSettings:
    """Parameters of the repurchase statistics (stored in the manifest as repurchase.*)."""

    once_only_below: float = 0.14
    basket_decay: float = 0.9
    prior_strength: float | None = None  # None: estimated from the data


@dataclass(frozen=True)
class RepurchaseStats:
    item_repeat_probability: np.ndarray  # float32 (I,)
    item_repeat_cycle_days: np.ndarray  # float32 (I,), NaN = never bought again
    item_once_only: np.ndarray  # bool (I,)
    customer_orders: np.ndarray  # int32 (C,)
    history_recent_share: np.ndarray  # float32 (H,), aligned with History cells
    global_rate: float
    prior_strength: float

    def learned(self) -> dict[str, float]:
        """What the data said, for the manifest's metrics."""
        return {
            "repurchase_global_rate": self.global_rate,
            "repurchase_prior_strength": self.prior_strength,
        }


@dataclass(frozen=True)
class CellFacts:
    """What the item statistics need of each customer-item cell, in History's cell order
    (customer, then item). Each training engine computes these from its order lines."""

    customer: np.ndarray
    item: np.ndarray
    first_position: np.ndarray  # position of the customer's first order holding the item
    orders: np.ndarray  # orders of the customer holding the item
    recent_share: np.ndarray  # share_ci of the module docstring


def repurchase_stats(
    indexed: IndexedLines,
    history: History,
    item_categories: np.ndarray,
    settings: RepurchaseSettings,
) -> RepurchaseStats:
    cells = _cell_orders(indexed.lines)
    customer_orders = np.bincount(cells.order_customer, minlength=indexed.customer_ids.shape[0])
    facts = CellFacts(
        customer=cells.customer[cells.starts],
        item=cells.item[cells.starts],
        first_position=cells.position[cells.starts],
        orders=cells.lengths,
        recent_share=_recent_share(cells, customer_orders, settings.basket_decay),
    )
    _check_aligned(facts, history)
    return item_statistics(facts, _gaps(cells), customer_orders, item_categories, settings)


def item_statistics(
    cells: CellFacts,
    gaps: pl.DataFrame,
    customer_orders: np.ndarray,
    item_categories: np.ndarray,
    settings: RepurchaseSettings,
) -> RepurchaseStats:
    """The per-item statistics from per-cell facts and the repeat gaps (columns item_idx,
    gap in days); shared by both training engines."""
    n_items = int(item_categories.shape[0])
    later = cells.first_position < customer_orders[cells.customer] - 1
    eligible = np.bincount(cells.item, weights=later, minlength=n_items)
    repeaters = np.bincount(cells.item, weights=cells.orders > 1, minlength=n_items)
    global_rate = float(repeaters.sum() / eligible.sum()) if eligible.sum() > 0 else 0.0
    strength = settings.prior_strength
    if strength is None:
        strength = estimate_prior_strength(repeaters, eligible)
    prior = _group_values(repeaters, eligible, item_categories, global_rate)
    probability = (repeaters + strength * prior) / (eligible + strength)
    cycle = _cycle_days(gaps, item_categories, n_items)
    cycle[repeaters == 0] = np.nan
    return RepurchaseStats(
        item_repeat_probability=probability.astype(np.float32),
        item_repeat_cycle_days=cycle.astype(np.float32),
        item_once_only=probability < settings.once_only_below,
        customer_orders=customer_orders.astype(np.int32),
        history_recent_share=cells.recent_share.astype(np.float32),
        global_rate=global_rate,
        prior_strength=float(strength),
    )


def estimate_prior_strength(repeaters: np.ndarray, eligible: np.ndarray) -> float:
    """Beta prior strength m = p(1 - p) / tau^2 - 1 from the items' spread of raw rates.

    tau^2 is the variance of raw rates across well-observed items minus the mean binomial
    variance p(1 - p) / e_i they would show by chance alone.
    """
    observed = eligible >= MOMENTS_MIN_ELIGIBLE
    if observed.sum() < MOMENTS_MIN_ITEMS:
        return FALLBACK_PRIOR_STRENGTH
    rates = repeaters[observed] / eligible[observed]
    mean = float(repeaters[observed].sum() / eligible[observed].sum())
    noise = float(np.mean(mean * (1.0 - mean) / eligible[observed]))
    between = float(rates.var()) - noise
    low, high = PRIOR_STRENGTH_RANGE
    if between <= 0 or mean in (0.0, 1.0):
        return high  # the items do not differ beyond chance: trust the prior fully
    return float(np.clip(mean * (1.0 - mean) / between - 1.0, low, high))


@dataclass(frozen=True)
class _CellOrders:
    """One row per (customer, item, order), sorted by customer, item, then the order's
    position in the customer's sequence (0 = first order, by time); `starts`/`lengths`
    delimit each customer-item cell's run of rows (cells in (customer, item) order)."""

    customer: np.ndarray
    item: np.ndarray
    ts: np.ndarray  # the order's time (its earliest line)
    position: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    order_customer: np.ndarray  # per distinct order: its customer


def _cell_orders(lines: pl.DataFrame) -> _CellOrders:
    # numpy on sorted arrays, not polars window functions: this runs on every order line
    # and took longer than the ALS fit at 1M lines when grouped over (customer, item).
    customer = lines["customer_idx"].to_numpy().astype(np.int64)
    item = lines["item_idx"].to_numpy().astype(np.int64)
    ts = lines["ts"].to_numpy().astype(np.int64)
    _, first_line, order = np.unique(
        lines["order_idx"].to_numpy(), return_index=True, return_inverse=True
    )
    n_orders = first_line.size
    order_customer = customer[first_line]  # an order's customer is its first line's
    order_ts = np.full(n_orders, np.iinfo(np.int64).max)
    np.minimum.at(order_ts, order, ts)
    sequence = np.lexsort((np.arange(n_orders), order_ts, order_customer))
    run_start = _run_starts(order_customer[sequence])
    position = np.empty(n_orders, dtype=np.int64)
    position[sequence] = np.arange(n_orders) - np.repeat(
        run_start, np.diff(np.r_[run_start, n_orders])
    )
    n_items = int(item.max()) + 1 if item.size else 1
    distinct = np.unique(order * n_items + item)  # an item twice in one order is one row
    cell_order, cell_item = distinct // n_items, distinct % n_items
    cell_customer = order_customer[cell_order]
    rows = np.lexsort((position[cell_order], cell_item, cell_customer))
    cell_customer, cell_item, cell_order = cell_customer[rows], cell_item[rows], cell_order[rows]
    starts = _run_starts(cell_customer * n_items + cell_item)
    return _CellOrders(
        customer=cell_customer,
        item=cell_item,
        ts=order_ts[cell_order],
        position=position[cell_order],
        starts=starts,
        lengths=np.diff(np.r_[starts, cell_customer.size]),
        order_customer=order_customer,
    )


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal values."""
    if sorted_keys.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _recent_share(cells: _CellOrders, customer_orders: np.ndarray, decay: float) -> np.ndarray:
    """Per cell (in cell order): the recency-weighted share of the customer's orders."""
    if not 0 < decay <= 1:
        raise ValueError(f"basket_decay must be in (0, 1], got {decay}")
    if cells.customer.size == 0:
        return np.empty(0)
    n_orders = customer_orders[cells.customer]
    weight = np.power(decay, n_orders - 1 - cells.position)
    total = n_orders.astype(np.float64) if decay == 1 else (1 - decay**n_orders) / (1 - decay)
    share: np.ndarray = np.add.reduceat(weight / total, cells.starts)
    return share


def _check_aligned(cells: CellFacts, history: History) -> None:
    """Both list cells by customer, then item; anything else is a bug upstream."""
    history_customer = np.repeat(
        np.arange(history.indptr.size - 1, dtype=np.int64), np.diff(history.indptr)
    )
    if not (
        np.array_equal(cells.customer, history_customer)
        and np.array_equal(cells.item, history.items)
    ):
        raise RuntimeError("repurchase cells do not match the history cells (a bug)")


def _gaps(cells: _CellOrders) -> pl.DataFrame:
    """Days between consecutive orders of the same customer holding the same item."""
    same_cell = np.ones(cells.customer.size, dtype=np.bool_)
    same_cell[cells.starts] = False
    gap = np.diff(cells.ts, prepend=0) / SECONDS_PER_DAY
    keep = same_cell & (gap >= MIN_GAP_DAYS)
    return pl.DataFrame({"item_idx": cells.item[keep], "gap": gap[keep]})


def _cycle_days(gaps: pl.DataFrame, item_categories: np.ndarray, n_items: int) -> np.ndarray:
    per_item = gaps.group_by("item_idx").agg(pl.col("gap").median(), pl.len().alias("n"))
    cycle = np.full(n_items, np.nan)
    enough = per_item.filter(pl.col("n") >= MIN_CYCLE_GAPS)
    cycle[enough["item_idx"].to_numpy()] = enough["gap"].to_numpy()
    overall = float(gaps["gap"].median()) if gaps.height else math.nan  # type: ignore[arg-type]
    fallback = np.full(n_items, overall)
    category_of_gap = item_categories[gaps["item_idx"].to_numpy()]
    by_category = (
        pl.DataFrame({"category": category_of_gap, "gap": gaps["gap"]})
        .filter(pl.col("category") >= 0)
        .group_by("category")
        .agg(pl.col("gap").median())
    )
    category_median = dict(
        zip(by_category["category"].to_list(), by_category["gap"].to_list(), strict=True)
    )
    for item in np.flatnonzero(item_categories >= 0):
        fallback[item] = category_median.get(int(item_categories[item]), overall)
    return np.where(np.isnan(cycle), fallback, cycle)


def _group_values(
    repeaters: np.ndarray, eligible: np.ndarray, item_categories: np.ndarray, global_rate: float
) -> np.ndarray:
    """Per item: its category's pooled rate r/e, or the global rate without one."""
    prior = np.full(repeaters.shape[0], global_rate)
    has_category = item_categories >= 0
    if has_category.any():
        n_categories = int(item_categories.max()) + 1
        category = item_categories[has_category]
        r = np.bincount(category, weights=repeaters[has_category], minlength=n_categories)
        e = np.bincount(category, weights=eligible[has_category], minlength=n_categories)
        rate = np.divide(r, e, out=np.full(n_categories, global_rate), where=e > 0)
        prior[has_category] = rate[category]
    return prior
