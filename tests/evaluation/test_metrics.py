"""Metric definitions pinned on hand-checked examples (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from basketry.training.evaluation.metrics import hit_at, ndcg_at, ranking_metrics, recall_at

TRUTH = frozenset({"a", "b", "c"})
RANKED = ["a", "x", "b", "y"]
# IDCG over all 3 truth items: 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.6309298 + 0.5
IDCG_3 = 2.1309298


def test_recall_counts_hits_over_the_whole_basket_without_a_k_cap() -> None:
    assert recall_at(RANKED, TRUTH, 2) == pytest.approx(1 / 3)  # {a} of 3 items
    assert recall_at(RANKED, TRUTH, 4) == pytest.approx(2 / 3)  # {a, b} of 3
    # 1 pick can find at most 1 of 3 items: still 1/3, not 1/min(1, 3) = 1.
    assert recall_at(["a"], TRUTH, 1) == pytest.approx(1 / 3)


def test_ndcg_uses_the_ideal_dcg_of_all_truth_items() -> None:
    # k=2: DCG = 1/log2(2) = 1 (a at rank 1; x misses) -> 1 / 2.1309298 = 0.4692787
    assert ndcg_at(RANKED, TRUTH, 2) == pytest.approx(1 / IDCG_3, rel=1e-6)
    assert ndcg_at(RANKED, TRUTH, 2) == pytest.approx(0.4692787, rel=1e-6)
    # k=4: DCG = 1 + 1/log2(4) = 1.5 (b at rank 3) -> 1.5 / 2.1309298 = 0.7039181
    assert ndcg_at(RANKED, TRUTH, 4) == pytest.approx(0.7039181, rel=1e-6)
    # A perfect list of all items scores 1; the same hits lower down score less.
    assert ndcg_at(["a", "b", "c"], TRUTH, 3) == pytest.approx(1.0)
    assert ndcg_at(["x", "a"], frozenset({"a"}), 2) == pytest.approx(1 / math.log2(3))


def test_phr_is_one_with_any_hit() -> None:
    assert hit_at(RANKED, TRUTH, 1) == 1.0
    assert hit_at(["x", "y", "a"], TRUTH, 2) == 0.0


def test_averages_repeat_explore_coverage_and_bought_share() -> None:
    truth = {"c1": TRUTH, "c2": frozenset({"z"})}
    ranked = {"c1": RANKED, "c2": ["a"]}
    bought = {"c1": frozenset({"a", "q"}), "c2": frozenset()}
    metrics = ranking_metrics(ranked, truth, bought, ks=[2, 4], catalogue_size=10)
    # recall@2: c1 1/3, c2 0 -> 1/6; ndcg@2: (0.4692787 + 0) / 2
    assert metrics["recall@2"] == pytest.approx(1 / 6)
    assert metrics["ndcg@2"] == pytest.approx(0.4692787 / 2, rel=1e-6)
    assert metrics["phr@2"] == pytest.approx(0.5)
    # repeat part: only c1 has one ({a}, found at rank 1) -> 1.0, averaged over c1 alone
    assert metrics["repeat_recall@2"] == pytest.approx(1.0)
    # explore parts: c1 {b, c}, c2 {z}; @2 none found -> 0; @4 c1 finds b: (1/2 + 0) / 2
    assert metrics["explore_recall@2"] == pytest.approx(0.0)
    assert metrics["explore_recall@4"] == pytest.approx(0.25)
    # distinct items listed @2: {a, x} of a catalogue of 10
    assert metrics["coverage@2"] == pytest.approx(0.2)
    # picks @2: c1 [a, x] (a bought before), c2 [a] (not bought by c2) -> 1 of 3
    assert metrics["bought_share@2"] == pytest.approx(1 / 3)


def test_a_customer_without_picks_scores_zero() -> None:
    truth = {"c1": frozenset({"a"}), "c2": frozenset({"a"})}
    metrics = ranking_metrics({"c1": ["a"]}, truth, {}, ks=[1], catalogue_size=1)
    assert metrics["recall@1"] == pytest.approx(0.5)


def test_no_target_is_an_error() -> None:
    with pytest.raises(ValueError, match="no test customer"):
        ranking_metrics({}, {"c1": frozenset()}, {}, ks=[1], catalogue_size=1)
