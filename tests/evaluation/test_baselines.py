"""Baselines on tiny histories, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from frames import clean_lines

from basketry.training.evaluation.baselines import (
    als_alone,
    g_topfreq,
    gp_topfreq,
    item_knn,
    p_topfreq,
)
from basketry.training.evaluation.history import basket_history
from basketry.training.evaluation.tifuknn import (
    PUBLISHED,
    TifuSettings,
    customer_vectors,
    tifu_knn,
)

FREQUENCY_ORDERS = [
    ("o1", "c1", 1, "A B C"),
    ("o2", "c1", 2, "A B"),
    ("o3", "c2", 1, "B D"),
    ("o4", "c3", 1, "D"),
    ("o5", "c3", 2, "D B"),
]


def test_topfreq_baselines_rank_by_basket_counts() -> None:
    history = basket_history(clean_lines(FREQUENCY_ORDERS))
    # Baskets holding each item: A 2, B 4, C 1, D 3 -> best-sellers B, D, A, C
    assert g_topfreq(history, ["c1"], 3) == {"c1": ["B", "D", "A"]}
    # c1: A 2, B 2, C 1; A and B tie and B sells more overall -> B, A, C
    personal = p_topfreq(history, ["c1", "c2", "new"], 5)
    assert personal == {"c1": ["B", "A", "C"], "c2": ["B", "D"], "new": []}
    # padded with best-sellers not already listed
    assert gp_topfreq(history, ["c1", "new"], 4) == {
        "c1": ["B", "A", "C", "D"],
        "new": ["B", "D", "A", "C"],
    }


def test_item_knn_sums_cosine_similarities_to_the_customers_items() -> None:
    history = basket_history(clean_lines(FREQUENCY_ORDERS))
    # Binary customers x items: c1 {A,B,C}, c2 {B,D}, c3 {B,D}. Column norms: A 1, B sqrt3,
    # C 1, D sqrt2. cos(A,B) = 1/sqrt3, cos(A,C) = 1, cos(A,D) = 0, cos(B,D) = 2/sqrt6.
    # c2 (B, D): A = 1/sqrt3 = .577, C = .577, B = cos(B,D) = .816, D = .816
    ranked = item_knn(history, ["c2"], 4)
    assert ranked == {"c2": ["B", "D", "A", "C"]}
    # With one neighbour per item, B keeps only D (.816 beats A and C at .577) and D keeps
    # only B: A and C lose their score and drop out.
    assert item_knn(history, ["c2"], 4, neighbours=1) == {"c2": ["B", "D"]}


def test_als_alone_scores_every_item_by_the_factor_dot_product() -> None:
    customers = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    items = np.array([[0.2, 0.9], [0.8, 0.1], [0.5, 0.5]], dtype=np.float32)
    rows = np.array([0, 1, -1], dtype=np.int64)
    ranked = als_alone(customers, items, rows, ["x", "y", "z"], ["u0", "u1", "cold"], 2)
    assert ranked == {"u0": ["y", "z"], "u1": ["x", "z"], "cold": []}


TIFU_ORDERS = [
    ("o1", "c1", 1, "A"),
    ("o2", "c1", 2, "B"),
    ("o3", "c1", 3, "A C"),
    ("o4", "c2", 1, "B"),
    ("o5", "c2", 2, "B C"),
    ("o6", "c3", 1, "A"),
]
TIFU = TifuSettings(neighbours=1, basket_decay=0.5, group_decay=0.5, alpha=0.5, groups=2)


def test_tifu_customer_vectors_match_a_hand_computation() -> None:
    history = basket_history(clean_lines(TIFU_ORDERS))
    vectors = customer_vectors(history, basket_decay=0.5, group_decay=0.5, groups=2).toarray()
    # c1: baskets decayed .25 A, .5 B, 1 (A+C); groups [b1], [b2, b3] (the later group is
    # the bigger one): g0 = .25A, g1 = (.5B + A + C)/2 = .5A + .25B + .5C;
    # vector = (.5 g0 + 1 g1) / 2 = .3125A + .125B + .25C
    assert vectors[0] == pytest.approx([0.3125, 0.125, 0.25])
    # c2: .5B, (B + C); two groups of one: (.5 x .5B + B + C) / 2 = .625B + .5C
    assert vectors[1] == pytest.approx([0.0, 0.625, 0.5])
    # c3: one basket, one group: A
    assert vectors[2] == pytest.approx([1.0, 0.0, 0.0])


def test_tifu_knn_blends_own_and_nearest_neighbour_vectors() -> None:
    history = basket_history(clean_lines(TIFU_ORDERS))
    ranked = tifu_knn(history, ["c1", "c3"], 3, TIFU)
    # squared distances: c1-c2 .3125^2 + .5^2 + .25^2 = .41; c1-c3 .6875^2 + .125^2 + .25^2
    # = .55; c2-c3 1 + .39 + .25 = 1.64. c1's nearest is c2, c3's is c1.
    # c1 = .5 c1 + .5 c2 = A .15625, B .375, C .375 -> B, C (tie: lower index), A
    # c3 = .5 c3 + .5 c1 = A .65625, B .0625, C .125 -> A, C, B
    assert ranked == {"c1": ["B", "C", "A"], "c3": ["A", "C", "B"]}


def test_published_settings_are_the_papers() -> None:
    assert PUBLISHED["TaFeng"] == TifuSettings(300, 0.9, 0.7, 0.7, 7)
    assert PUBLISHED["Dunnhumby"] == TifuSettings(900, 0.9, 0.6, 0.2, 3)
