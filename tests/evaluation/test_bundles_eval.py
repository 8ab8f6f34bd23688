"""Bundle evaluation: metric definitions on hand-checked lists, a planted basket, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
import pytest

from basketry.server.model import ServingModel
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.bundles import (
    evaluate_bundles,
    hit_at_k,
    ndcg_at_k,
    sample_queries,
)

Lines = Callable[[Sequence[tuple[str, str, str, int]]], pl.DataFrame]
Fit = Callable[[pl.DataFrame], ServingModel]

CUTOFF = 1_700_000_000
RANK_2 = 1 / math.log2(3)  # DCG of one hit at rank 2


def test_hit_and_ndcg_on_hand_checked_lists() -> None:
    truth = frozenset({1, 9})
    assert hit_at_k([5, 1, 7], truth, 1) == 0.0
    assert ndcg_at_k([5, 1, 7], truth, 1) == 0.0
    assert hit_at_k([5, 1, 7], truth, 2) == 1.0
    # One hit at rank 2; the ideal puts both truth items first.
    assert ndcg_at_k([5, 1, 7], truth, 2) == pytest.approx(RANK_2 / (1 + RANK_2))
    # The ideal is capped at k: two hits in two slots is perfect though a third is missed.
    assert ndcg_at_k([1, 2, 8], frozenset({1, 2, 3}), 2) == pytest.approx(1.0)
    assert ndcg_at_k([8, 1, 2], frozenset({1, 2, 3}), 3) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    )


def planted_history(lines: Lines) -> pl.DataFrame:
    """A and B are true partners (4 orders); P is in 30 of 31 orders; X1..X6 once with A.

    n_A = 10, n_B = 5, n_P = 30, N = 31. For A: confidence ranks P (10/10) above B (4/10);
    lift ranks every X (1*31/10 = 3.1) above B (4*31/50 = 2.48).
    """
    rows: list[tuple[str, str, str, int]] = []
    ts = CUTOFF - 100_000

    def order(name: str, *items: str) -> None:
        rows.extend((name, f"c-{name}", item, ts) for item in items)

    for i in range(4):
        order(f"ab{i}", "A", "B", "P")
    for i in range(1, 7):
        order(f"ax{i}", "A", "P", f"X{i}")
    order("b", "B")
    for i in range(20):
        order(f"p{i}", "P", f"Y{i % 5}")
    return lines(rows)


def test_planted_pair_gives_the_hand_computed_numbers(order_lines: Lines, fit_model: Fit) -> None:
    history = planted_history(order_lines)
    test = order_lines(
        [
            ("t1", "c-t", "A", CUTOFF),
            ("t1", "c-t", "B", CUTOFF),
            ("t2", "c-t", "A", CUTOFF),  # one item: no query
            ("t3", "c-u", "A", CUTOFF),
            ("t3", "c-u", "Z", CUTOFF),  # Z is unknown: one known item, no query
        ]
    )
    result = evaluate_bundles(history, test, fit_model(history), seed=1)

    assert result["counts"]["held_out_orders_with_2_known_items"] == 1
    assert result["counts"]["queries"] == 2  # A asks for B, B asks for A
    rows = {row["method"]: row for row in result["table"]}
    # Served, score (n_ab - 0.25 E_ab) / n_a with 71 order lines (q_P = 30/71, q_A = 10/71,
    # q_B = 5/71) and every order holding A or B of size 3 (two other items):
    #   A -> P: E = 10 (1 - (41/71)^2) = 6.67, (10 - 1.67)/10 = 0.83;
    #   A -> B: E = 10 (1 - (66/71)^2) = 1.36, (4 - 0.34)/10 = 0.37   => B at rank 2
    #   B -> A: E = 4 (1 - (61/71)^2) = 1.05, (4 - 0.26)/5 = 0.75;
    #   B -> P: E = 4 (1 - (41/71)^2) = 2.67, (4 - 0.67)/5 = 0.67    => A at rank 1
    # Each has two partners with n_ab >= 2 (the other and P): 3 of the 5 slots are fill.
    served = rows["served (chance-corrected confidence)"]
    assert (served["hit_rate@5"], served["filled@5"]) == (1.0, 0.6)
    assert served["ndcg@5"] == pytest.approx((RANK_2 + 1) / 2, abs=1e-6)
    # Confidence: B at rank 2 for A (after P); A at rank 1 for B (tie with P, lower index).
    assert rows["confidence"]["hit_rate@5"] == 1.0
    assert rows["confidence"]["ndcg@5"] == pytest.approx((RANK_2 + 1) / 2, abs=1e-6)
    # Raw lift: six X's before B for A (rank 7), A first for B.
    lift = rows["lift (n_ab >= 1)"]
    assert (lift["hit_rate@5"], lift["ndcg@5"], lift["hit_rate@10"]) == (0.5, 0.5, 1.0)
    assert lift["ndcg@10"] == pytest.approx((1 / math.log2(8) + 1) / 2, abs=1e-6)
    assert rows["lift (n_ab >= 2)"]["ndcg@5"] == 1.0
    # Popularity by item orders: P first, then the other item (B 5 orders, A 10).
    assert rows["popularity (item orders)"]["ndcg@5"] == pytest.approx(RANK_2, abs=1e-6)
    assert result["parameters"]["min_pair_count"] == 2


def random_lines(lines: Lines, seed: int, orders: int, ts: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for order in range(orders):
        customer = f"c{rng.integers(40)}"
        for item in rng.choice(30, size=int(rng.integers(1, 6)), replace=False).tolist():
            rows.append((f"{ts}-{order}", customer, f"i{item:02d}", ts + order))
    return lines(rows)


def test_deterministic_with_the_seed(order_lines: Lines, fit_model: Fit) -> None:
    history = random_lines(order_lines, 1, 300, CUTOFF - 10_000)
    test = random_lines(order_lines, 2, 120, CUTOFF)
    model = fit_model(history)

    def run(seed: int) -> dict[str, object]:
        result = evaluate_bundles(history, test, model, seed=seed, max_orders=20)
        return {key: value for key, value in result.items() if key != "seconds"}

    assert run(3) == run(3)
    first = sample_queries(test, model, seed=3, max_orders=20, per_order=2)
    again = sample_queries(test, model, seed=3, max_orders=20, per_order=2)
    other = sample_queries(test, model, seed=4, max_orders=20, per_order=2)
    assert (first.items, first.truths) == (again.items, again.truths)
    assert (first.items, first.truths) != (other.items, other.truths)
    assert first.sampled_orders == 20 and len(first.items) <= 40


def test_no_usable_order_is_a_clear_error(order_lines: Lines, fit_model: Fit) -> None:
    history = planted_history(order_lines)
    test = order_lines([("t1", "c1", "A", CUTOFF), ("t1", "c1", "Z", CUTOFF)])
    with pytest.raises(TrainingInputError, match="two distinct items the model knows"):
        evaluate_bundles(history, test, fit_model(history), seed=1)
