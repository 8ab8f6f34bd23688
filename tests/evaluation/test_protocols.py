"""Splits on a tiny hand-made history: which basket is the test, which customers and items stay."""

from __future__ import annotations

import pytest
from frames import DAY, START, clean_lines

from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.protocols import (
    next_basket_split,
    time_window_split,
    validation_split,
)

ORDERS = [
    # c1: 4 orders; the last (o4, day 9) is the test basket; D is never in its history
    ("o1", "c1", 1, "A B"),
    ("o2", "c1", 3, "A"),
    ("o3", "c1", 5, "B C E"),
    ("o4", "c1", 9, "A D"),
    # c2: 3 orders, the test basket is o7 although o7's id sorts before o5's
    ("o5", "c2", 2, "A C"),
    ("o6", "c2", 4, "B C"),
    ("o0", "c2", 8, "C B"),
    # c3: only 2 orders -> left out of next-basket (min 3)
    ("o8", "c3", 1, "A"),
    ("o9", "c3", 2, "B"),
    # c4: 4 orders -> left out when max_orders is 3
    ("p1", "c4", 1, "A"),
    ("p2", "c4", 2, "B"),
    ("p3", "c4", 3, "C"),
    ("p4", "c4", 7, "A B"),
]


def test_next_basket_tests_each_kept_customers_last_order() -> None:
    split = next_basket_split(clean_lines(ORDERS), min_orders=3, max_orders=3, min_item_count=1)
    # c1 has 4 orders > max 3 and c3 has 2 < min 3: only c2 stays; its last order is "o0"
    assert dict(split.test) == {"c2": frozenset({"B", "C"})}
    assert set(split.history["order_id"]) == {"o5", "o6"}
    assert set(split.target_lines["order_id"]) == {"o0"}


def test_next_basket_drops_rare_items_and_unknown_test_items() -> None:
    split = next_basket_split(clean_lines(ORDERS), min_orders=3, max_orders=50, min_item_count=2)
    # History baskets (c1 o1-o3, c2 o5 o6, c4 p1-p3) holding each item:
    # A 4 (o1 o2 o5 p1), B 4 (o1 o3 o6 p2), C 4 (o3 o5 o6 p3), E 1 (o3).
    assert set(split.history["item_id"]) == {"A", "B", "C"}  # E (1 basket) dropped
    # c1's test basket {A, D}: D was never in the history -> only A is guessed
    assert split.test["c1"] == frozenset({"A"})
    assert split.test["c4"] == frozenset({"A", "B"})
    assert "c3" not in split.test
    assert "o4" not in set(split.history["order_id"])
    assert split.facts["customers_kept"] == 3


def test_validation_targets_the_last_history_basket_and_never_reads_the_test() -> None:
    split = next_basket_split(clean_lines(ORDERS), min_orders=3, max_orders=50, min_item_count=1)
    validation = validation_split(split)
    # c1: history o1 o2 o3 -> target o3 {B, C, E}; c2: o5 o6 -> o6; c4: p1 p2 p3 -> p3
    assert validation.test == {
        "c1": frozenset({"B", "C"}),  # o3 also holds E, but E is in no other basket
        "c2": frozenset({"B", "C"}),
        "c4": frozenset({"C"}),
    }
    used = set(validation.history["order_id"]) | set(validation.target_lines["order_id"])
    assert used == {"o1", "o2", "o3", "o5", "o6", "p1", "p2", "p3"}
    assert not used & {"o4", "o0", "p4"}  # the test baskets


def test_time_window_splits_at_the_cutoff() -> None:
    cutoff = START + 5 * DAY
    split = time_window_split(clean_lines(ORDERS), cutoff_ts=cutoff, window_days=3)
    # history: orders before day 5; window: days 5, 6, 7 -> o3 (c1, day 5) and p4 (c4, day 7)
    assert int(split.history["ts"].max()) < cutoff  # type: ignore[arg-type]
    assert dict(split.test) == {"c1": frozenset({"B", "C"}), "c4": frozenset({"A", "B"})}
    # E is new in the window (unknown to the history) and o4 (day 9) is after the window
    assert set(split.target_lines["order_id"]) == {"o3", "p4"}


def test_bad_protocol_input_is_a_clear_error() -> None:
    lines = clean_lines(ORDERS)
    with pytest.raises(TrainingInputError, match="no customer has 10-50 orders"):
        next_basket_split(lines, min_orders=10)
    with pytest.raises(TrainingInputError, match="no history before it"):
        time_window_split(lines, cutoff_ts=START, window_days=30)
