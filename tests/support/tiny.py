"""A hand-made five-item snapshot whose every answer can be worked out on paper.

Items a, b, c, d, e (categories food, food, toys, toys, none; c has no price, d is out of
stock). Customers u0 and u1 are warm, u2 is cold (no history, zero factors).
u0 (5 orders) bought a (recency share 0.6, on the reference day) and c (share 0.5, 60 days
earlier). Repeat probabilities a 0.6, b 0.3, c 0.5, d 0.05 (once-only), e 0.3; cycles a 7
days, c 30 days, others unknown. Buy-again (share x p x due, due weight 0.5): a
0.6 * 0.6 * (0.5 + 0.5 * 0/7) = 0.18, c 0.5 * 0.5 * 1 = 0.25: c is due, a was just bought.
u1 bought d, a once-only item: d is never offered to u1 again.
Co-purchase: a -> b (z 4), a -> c (z 1), b -> a (z 4), c -> d (z 0.5), N = 20 orders.
Popularity (distinct buyers): d 3, a 2, b 1, c 1, e 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from basketry.snapshot import publish_snapshot
from basketry.snapshot.derived import serving_arrays

REFERENCE_TS = 1_700_000_000
DAY = 86_400
ITEMS = ["a", "b", "c", "d", "e"]
CUSTOMERS = ["u0", "u1", "u2"]


def tiny_arrays() -> tuple[dict[str, np.ndarray], dict[str, int]]:
    arrays: dict[str, np.ndarray] = {
        "customer_ids": np.array(CUSTOMERS),
        "customer_factors": np.array([[1.0, 0.2], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32),
        "item_ids": np.array(ITEMS),
        "item_names": np.array(["Apple", "Banana", "Car", "Doll", "Egg"]),
        "item_categories": np.array([0, 0, 1, 1, -1], dtype=np.int32),
        "categories": np.array(["food", "toys"]),
        "item_prices": np.array([1.0, 2.0, np.nan, 4.0, 5.0], dtype=np.float32),
        "item_in_stock": np.array([True, True, True, False, True]),
        "item_factors": np.array(
            [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]], dtype=np.float32
        ),
        "item_buyers": np.array([2, 1, 1, 3, 0], dtype=np.int32),
        "item_orders": np.array([10, 6, 8, 4, 1], dtype=np.int32),
        "item_repeat_probability": np.array([0.6, 0.3, 0.5, 0.05, 0.3], dtype=np.float32),
        "item_repeat_cycle_days": np.array([7, np.nan, 30, np.nan, np.nan], dtype=np.float32),
        "item_once_only": np.array([False, False, False, True, False]),
        "customer_orders": np.array([5, 2, 0], dtype=np.int32),
        # u0: a, c    u1: a, b, d    u2: nothing
        "history_indptr": np.array([0, 2, 5, 5], dtype=np.int64),
        "history_items": np.array([0, 2, 0, 1, 3], dtype=np.int32),
        "history_orders": np.array([3, 4, 1, 1, 1], dtype=np.int32),
        "history_quantity": np.array([3, 4, 1, 1, 1], dtype=np.float32),
        "history_last_ts": REFERENCE_TS - DAY * np.array([0, 60, 1, 1, 0], dtype=np.int64),
        "history_confidence": np.array([4, 5, 2, 2, 2], dtype=np.float32),
        "history_recent_share": np.array([0.6, 0.5, 0.5, 0.5, 1.0], dtype=np.float32),
        # a: b, c    b: a    c: d    d: -    e: -
        "pairs_indptr": np.array([0, 2, 3, 4, 4, 4], dtype=np.int64),
        "pairs_partner": np.array([1, 2, 0, 3], dtype=np.int32),
        "pairs_count": np.array([5, 2, 5, 3], dtype=np.int32),
        "pairs_expected": np.array([1.0, 1.0, 1.0, 2.25], dtype=np.float32),
        "pairs_score": np.array([4.0, 1.0, 4.0, 0.5], dtype=np.float32),
    }
    arrays |= serving_arrays(arrays)
    counts = {
        "customers": 3,
        "items": 5,
        "orders": 20,
        "order_lines": 40,
        "rules": 4,
        "factors": 2,
        "categories": 2,
    }
    return arrays, counts


def publish_tiny_snapshot(snapshot_dir: Path, parameters: Mapping[str, Any] | None = None) -> Path:
    arrays, counts = tiny_arrays()
    return publish_snapshot(
        snapshot_dir,
        arrays,
        counts=counts,
        parameters={
            "buy_again.due_weight": 0.5,
            "blend.buy_again_weight": 0.5,
            "blend.copurchase_weight": 0.0,
            **(parameters or {}),
        },
        input_info={"last_order_ts": REFERENCE_TS},
        metrics={},
    )
