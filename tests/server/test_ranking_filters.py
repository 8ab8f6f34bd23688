"""top_k and item filters, on plain arrays and the tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel
from basketry.server.ranking import top_k


def test_top_k_orders_best_first_and_skips_ineligible() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.95, 0.3])
    eligible = np.array([True, True, True, False, True])
    assert top_k(scores, eligible, 3).tolist() == [1, 2, 4]


def test_top_k_returns_fewer_when_few_are_eligible() -> None:
    scores = np.arange(6, dtype=np.float64)
    eligible = np.zeros(6, dtype=np.bool_)
    eligible[[1, 4]] = True
    assert top_k(scores, eligible, 10).tolist() == [4, 1]
    assert top_k(scores, np.zeros(6, dtype=np.bool_), 3).size == 0
    assert top_k(scores, eligible, 0).size == 0


def test_top_k_breaks_ties_by_lower_index_even_across_the_partition() -> None:
    scores = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 0.5, 2.0])
    assert top_k(scores, np.ones(7, dtype=np.bool_), 3).tolist() == [1, 2, 3]


def test_top_k_matches_a_full_sort_on_random_scores() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=5_000)
    eligible = rng.random(5_000) > 0.3
    expected = [int(i) for i in np.argsort(-scores, kind="stable") if eligible[i]][:50]
    assert top_k(scores, eligible, 50).tolist() == expected


def _allowed(model: ServingModel, **conditions: object) -> list[str]:
    mask = allowed_items(model, ItemFilter(**conditions))  # type: ignore[arg-type]
    return [model.item_ids[i] for i in np.flatnonzero(mask)]


def test_no_filter_allows_everything(tiny_model: ServingModel) -> None:
    assert _allowed(tiny_model) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"exclude_item_ids": ("b", "zzz")}, ["a", "c", "d", "e"]),
        ({"only_categories": ("toys",)}, ["c", "d"]),
        ({"only_categories": ("toys", "food")}, ["a", "b", "c", "d"]),
        ({"only_categories": ("unknown",)}, []),
        ({"exclude_categories": ("food",)}, ["c", "d", "e"]),
        ({"in_stock_only": True}, ["a", "b", "c", "e"]),
        ({"min_price": 2.0}, ["b", "d", "e"]),  # c has no price: out of any price range
        ({"max_price": 2.0}, ["a", "b"]),
        ({"min_price": 1.5, "max_price": 4.5, "in_stock_only": True}, ["b"]),
        ({"max_price": math.inf}, ["a", "b", "d", "e"]),
    ],
)
def test_filter_conditions(
    tiny_model: ServingModel, conditions: dict[str, object], expected: list[str]
) -> None:
    assert _allowed(tiny_model, **conditions) == expected


def test_filter_mask_is_fresh(tiny_model: ServingModel) -> None:
    first = allowed_items(tiny_model, ItemFilter())
    first[:] = False
    assert allowed_items(tiny_model, ItemFilter()).all()
