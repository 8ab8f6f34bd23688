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


def repurchase_stats(
    indexed: IndexedLines,
    history: History,
    item_categories: np.ndarray,
    settings: RepurchaseSettings,
) -> RepurchaseStats:
    n_customers = int(indexed.customer_ids.shape[0])
    n_items = int(indexed.item_ids.shape[0])
    cells = _cell_orders(indexed.lines)
    customer_orders = _customer_orders(cells, n_customers)
    share = _recent_share(cells, customer_orders, settings.basket_decay)
    per_cell = cells.group_by("customer_idx", "item_idx").agg(
        pl.col("position").min().alias("first"),
        pl.len().alias("orders"),
    )
    later = per_cell["first"].to_numpy() < customer_orders[per_cell["customer_idx"].to_numpy()] - 1
    item_of_cell = per_cell["item_idx"].to_numpy()
    eligible = np.bincount(item_of_cell, weights=later, minlength=n_items)
    repeaters = np.bincount(
        item_of_cell, weights=per_cell["orders"].to_numpy() > 1, minlength=n_items
    )
    global_rate = float(repeaters.sum() / eligible.sum()) if eligible.sum() > 0 else 0.0
    strength = settings.prior_strength
    if strength is None:
        strength = estimate_prior_strength(repeaters, eligible)
    prior = _group_values(repeaters, eligible, item_categories, global_rate)
    probability = (repeaters + strength * prior) / (eligible + strength)
    gaps = _gaps(cells)
    cycle = _cycle_days(gaps, item_categories, n_items)
    cycle[repeaters == 0] = np.nan
    return RepurchaseStats(
        item_repeat_probability=probability.astype(np.float32),
        item_repeat_cycle_days=cycle.astype(np.float32),
        item_once_only=probability < settings.once_only_below,
        customer_orders=customer_orders.astype(np.int32),
        history_recent_share=_align(share, history, n_items),
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


def _cell_orders(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per (customer, item, order) with the order's time and position in the
    customer's sequence (0 = first order)."""
    orders = (
        lines.group_by("order_idx")
        .agg(pl.col("customer_idx").first(), pl.col("ts").min())
        .sort("customer_idx", "ts", "order_idx")
        .with_columns(pl.int_range(pl.len()).over("customer_idx").alias("position"))
    )
    return (
        lines.select("customer_idx", "item_idx", "order_idx")
        .unique()
        .join(orders.select("order_idx", "ts", "position"), on="order_idx")
        .sort("customer_idx", "item_idx", "position")
    )


def _customer_orders(cells: pl.DataFrame, n_customers: int) -> np.ndarray:
    last = cells.group_by("customer_idx").agg(pl.col("position").max())
    counts = np.zeros(n_customers, dtype=np.int64)
    counts[last["customer_idx"].to_numpy()] = last["position"].to_numpy() + 1
    return counts


def _recent_share(cells: pl.DataFrame, customer_orders: np.ndarray, decay: float) -> pl.DataFrame:
    if not 0 < decay <= 1:
        raise ValueError(f"basket_decay must be in (0, 1], got {decay}")
    n_orders = customer_orders[cells["customer_idx"].to_numpy()]
    age = n_orders - 1 - cells["position"].to_numpy()
    weight = np.power(decay, age)
    total = n_orders.astype(np.float64) if decay == 1 else (1 - decay**n_orders) / (1 - decay)
    return (
        cells.select("customer_idx", "item_idx")
        .with_columns(pl.Series("share", weight / total))
        .group_by("customer_idx", "item_idx")
        .agg(pl.col("share").sum())
    )


def _align(share: pl.DataFrame, history: History, n_items: int) -> np.ndarray:
    """Shares in History's cell order (customer, then item)."""
    keys = (
        share["customer_idx"].to_numpy().astype(np.int64) * n_items + share["item_idx"].to_numpy()
    )
    rows = np.repeat(np.arange(history.indptr.size - 1, dtype=np.int64), np.diff(history.indptr))
    wanted = rows * n_items + history.items
    order = np.argsort(keys)
    position = np.searchsorted(keys[order], wanted)
    if position.size and (
        position.max() >= keys.size or not np.array_equal(keys[order][position], wanted)
    ):
        raise RuntimeError("repurchase cells do not match the history cells (a bug)")
    aligned: np.ndarray = share["share"].to_numpy()[order][position].astype(np.float32)
    return aligned


def _gaps(cells: pl.DataFrame) -> pl.DataFrame:
    """Days between consecutive orders of the same customer holding the same item."""
    return (
        cells.with_columns(
            (pl.col("ts").diff().over("customer_idx", "item_idx") / SECONDS_PER_DAY).alias("gap")
        )
        .filter(pl.col("gap") >= MIN_GAP_DAYS)
        .select("item_idx", "gap")
    )


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
