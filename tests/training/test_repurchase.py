"""Repurchase statistics on a hand-made order history whose every number is worked out here.

    c1: o1 day 0 (A, B), o2 day 10 (A), o3 day 30 (A, C)
    c2: o4 day 0 (A), o5 day 5 (B)
    c3: o6 day 0 (B, C)
    c4: o7 day 0 (A), o8 day 14 (A), o9 day 14.2 (B)

A: eligible buyers (a later order after their first A) c1, c2, c4; repeaters c1, c4: 2 / 3.
   Gaps 10, 20 (c1) and 14 (c4): median 14 days.
B: eligible c1 only (c2's and c4's B is in their last order, c3 has one order): 0 / 1.
C: nobody eligible: 0 / 0. Global rate 2 / 4 = 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from basketry.training.matrices import build_history, index_lines
from basketry.training.repurchase import (
    RepurchaseSettings,
    RepurchaseStats,
    estimate_prior_strength,
    repurchase_stats,
)

DAY = 86_400
ORDERS = [
    ("o1", "c1", 0.0, "AB"),
    ("o2", "c1", 10.0, "A"),
    ("o3", "c1", 30.0, "AC"),
    ("o4", "c2", 0.0, "A"),
    ("o5", "c2", 5.0, "B"),
    ("o6", "c3", 0.0, "BC"),
    ("o7", "c4", 0.0, "A"),
    ("o8", "c4", 14.0, "A"),
    ("o9", "c4", 14.2, "B"),
]


def stats(categories: list[int], **settings: float) -> RepurchaseStats:
    rows = [
        (order, customer, item, 1.0, int(1_700_000_000 + day * DAY), 1.0, item)
        for order, customer, day, items in ORDERS
        for item in items
    ]
    lines = pl.DataFrame(
        rows,
        schema=["order_id", "customer_id", "item_id", "quantity", "ts", "price", "item_name"],
        orient="row",
    )
    indexed = index_lines(lines)
    history = build_history(indexed, alpha=1.0)
    chosen = RepurchaseSettings(**{"prior_strength": 2.0, **settings})  # type: ignore[arg-type]
    return repurchase_stats(indexed, history, np.array(categories, dtype=np.int32), chosen)


def test_repeat_probability_is_smoothed_toward_the_global_rate() -> None:
    result = stats([-1, -1, -1])
    assert result.global_rate == pytest.approx(0.5)
    # (r + 2 * 0.5) / (e + 2): A (2 + 1) / 5, B 1 / 3, C (no evidence) the prior 0.5.
    assert result.item_repeat_probability.tolist() == pytest.approx([0.6, 1 / 3, 0.5])


def test_category_rate_is_the_prior_when_items_have_categories() -> None:
    result = stats([0, 1, -1])
    # A's category (A alone) has rate 2/3: (2 + 2 * 2/3) / 5; B's has 0/1: 0; C the global.
    assert result.item_repeat_probability.tolist() == pytest.approx([2 / 3, 0.0, 0.5])


def test_cycle_is_the_median_gap_and_unknown_when_never_repeated() -> None:
    cycle = stats([-1, -1, -1]).item_repeat_cycle_days
    assert cycle[0] == pytest.approx(14.0)
    assert math.isnan(cycle[1]) and math.isnan(cycle[2])


def test_once_only_below_the_threshold() -> None:
    assert stats([-1, -1, -1], once_only_below=0.4).item_once_only.tolist() == [
        False,
        True,
        False,
    ]
    assert not stats([-1, -1, -1], once_only_below=0.3).item_once_only.any()


def test_customer_orders_and_recency_share_per_history_cell() -> None:
    result = stats([-1, -1, -1], basket_decay=0.5)
    assert result.customer_orders.tolist() == [3, 2, 1, 3]
    # c1's orders weigh 0.25, 0.5, 1 (total 1.75): A in all 1, B in the first 0.25 / 1.75,
    # C in the last 1 / 1.75. Cells are in history order (customer, then item).
    assert result.history_recent_share[:3].tolist() == pytest.approx([1.0, 1 / 7, 4 / 7])
    # c2: A in the older of 2 orders (0.5 / 1.5), B in the last (1 / 1.5).
    assert result.history_recent_share[3:5].tolist() == pytest.approx([1 / 3, 2 / 3])


def test_prior_strength_by_method_of_moments() -> None:
    # Ten items of 1,000 eligible buyers with rates 0.2 and 0.6: mean 0.4, spread 0.04, of
    # which 0.4 * 0.6 / 1000 is chance; m = 0.24 / (0.04 - 0.00024) - 1.
    eligible = np.full(10, 1000.0)
    repeaters = np.array([200.0, 600.0] * 5)
    assert estimate_prior_strength(repeaters, eligible) == pytest.approx(0.24 / 0.03976 - 1)
    # Items that differ no more than chance would: the prior is trusted fully (the cap).
    assert estimate_prior_strength(np.full(10, 400.0), eligible) == 1000.0
    # Too few well-observed items: the weak fallback prior.
    assert estimate_prior_strength(np.array([1.0]), np.array([3.0])) == 2.0
