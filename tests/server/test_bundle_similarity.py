"""Bundle merge and rule statistics; similar items, similar customers, look-alikes."""

from __future__ import annotations

import numpy as np
import pytest
from support.synthetic import planted_partner

from basketry.server.bundle import bundle
from basketry.server.domain import BundleAnswer, BundleQuery, Fallback, Reason
from basketry.server.errors import NotFound
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel
from basketry.server.similarity import lookalike, similar_customers, similar_items


def ask_bundle(
    model: ServingModel, items: tuple[str, ...], limit: int = 10, **conditions: object
) -> BundleAnswer:
    item_filter = ItemFilter(**conditions)  # type: ignore[arg-type]
    return bundle(model, BundleQuery(items, limit, item_filter), allowed_items(model, item_filter))


def names(model: ServingModel, answer: BundleAnswer) -> list[str]:
    return [model.item_ids[pick.item] for pick in answer.picks]


def test_bundle_reports_rule_statistics_of_the_strongest_basket_item(
    tiny_model: ServingModel,
) -> None:
    answer = ask_bundle(tiny_model, ("a",), limit=2)
    assert names(tiny_model, answer) == ["b", "c"]
    assert answer.fallback is Fallback.NONE
    b = answer.picks[0]
    assert (b.score, b.co_purchase_count, b.because) == (4.0, 5, (0,))
    # n_ab = 5, n_a = 10, n_b = 6, N = 20
    assert b.confidence == pytest.approx(0.5)
    assert b.lift == pytest.approx(5 * 20 / (10 * 6))
    assert b.support == pytest.approx(0.25)
    assert b.reason is Reason.BOUGHT_TOGETHER


def test_bundle_merges_basket_items_and_never_returns_them(tiny_model: ServingModel) -> None:
    assert names(tiny_model, ask_bundle(tiny_model, ("a", "c"), limit=2)) == ["b", "d"]
    answer = ask_bundle(tiny_model, ("a", "b"), limit=1)
    assert names(tiny_model, answer) == ["c"]


def test_bundle_fills_with_popular_items_when_partners_run_out(tiny_model: ServingModel) -> None:
    answer = ask_bundle(tiny_model, ("a",))
    assert names(tiny_model, answer) == ["b", "c", "d", "e"]
    assert [p.reason for p in answer.picks[2:]] == [Reason.POPULAR, Reason.POPULAR]
    assert answer.fallback is Fallback.EMPTY_AFTER_FILTERS
    filtered = ask_bundle(
        tiny_model, ("c",), in_stock_only=True
    )  # its only partner d is out of stock
    assert names(tiny_model, filtered) == ["a", "b", "e"]
    assert filtered.fallback is Fallback.EMPTY_AFTER_FILTERS


def test_bundle_without_fallback_flag_when_the_filter_leaves_nothing_to_fill(
    tiny_model: ServingModel,
) -> None:
    answer = ask_bundle(tiny_model, ("a",), only_categories=("food",))
    assert names(tiny_model, answer) == ["b"]
    assert answer.fallback is Fallback.NONE


def test_bundle_of_unknown_items_is_popular_with_fallback(tiny_model: ServingModel) -> None:
    answer = ask_bundle(tiny_model, ("zzz", "yyy"), limit=3)
    assert names(tiny_model, answer) == ["d", "a", "b"]
    assert answer.fallback is Fallback.UNKNOWN_ITEM


def test_bundle_finds_planted_partners(synthetic_model: ServingModel) -> None:
    model = synthetic_model
    bought = [i for i in range(model.n_items - 1) if model.item_orders[i] >= 5]
    hits = sum(
        ask_bundle(model, (model.item_ids[i],), limit=1).picks[0].item == planted_partner(i)
        for i in bought
    )
    assert hits / len(bought) >= 0.9


def test_bundle_score_is_the_sum_over_basket_items(synthetic_model: ServingModel) -> None:
    model = synthetic_model
    basket = ("i010", "i020", "i031")
    answer = ask_bundle(model, basket, limit=15)
    sources = model.item_indices(basket)
    for pick in answer.picks:
        contributions = {}
        for source in sources.tolist():
            entries = range(model.pairs_indptr[source], model.pairs_indptr[source + 1])
            for entry in entries:
                if model.pairs_partner[entry] == pick.item and model.pairs_score[entry] > 0:
                    contributions[source] = float(model.pairs_score[entry])
        assert pick.score == pytest.approx(sum(contributions.values()))
        assert pick.because == tuple(sorted(contributions, key=lambda s: -contributions[s]))
        assert pick.item not in sources


def test_similar_items_by_cosine_never_the_item_itself(tiny_model: ServingModel) -> None:
    allowed = allowed_items(tiny_model, ItemFilter())
    similar = similar_items(tiny_model, "a", 10, allowed)
    assert [tiny_model.item_ids[s.index] for s in similar] == ["b", "d", "c", "e"]
    assert similar[0].score == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    with pytest.raises(NotFound, match="zzz"):
        similar_items(tiny_model, "zzz", 10, allowed)


def test_similar_items_stay_mostly_in_the_category(synthetic_model: ServingModel) -> None:
    model = synthetic_model
    allowed = allowed_items(model, ItemFilter())
    same = [
        model.item_categories[s.index] == model.item_categories[i]
        for i in range(0, 100, 7)
        for s in similar_items(model, model.item_ids[i], 5, allowed)
    ]
    assert np.mean(same) >= 0.9


def test_similar_customers(tiny_model: ServingModel) -> None:
    similar = similar_customers(tiny_model, "u0", 10)
    assert [(s.index, round(s.score, 4)) for s in similar] == [
        (1, round(0.2 / np.hypot(1, 0.2), 4))
    ]
    assert similar_customers(tiny_model, "u2", 10) == []  # cold: like nobody
    with pytest.raises(NotFound, match="nobody"):
        similar_customers(tiny_model, "nobody", 10)


def test_lookalike_expands_seed_items_to_their_buyers(tiny_model: ServingModel) -> None:
    answer = lookalike(tiny_model, (), ("d",), 10)  # d's buyer is u1
    assert answer.seed_size == 1
    assert [s.index for s in answer.customers] == [0]
    both = lookalike(tiny_model, ("u0", "ghost"), ("b",), 10)
    assert both.seed_size == 2
    assert both.customers == []
    with pytest.raises(NotFound, match="seed"):
        lookalike(tiny_model, ("ghost",), ("zzz",), 10)


def test_lookalike_ranks_non_seeds_by_preference_for_the_audience_direction(
    synthetic_model: ServingModel,
) -> None:
    model = synthetic_model
    answer = lookalike(model, ("c0001", "c0002"), ("i003",), 30)
    item = model.item_index["i003"]
    buyers = set(
        model.buyers_customers[model.buyers_indptr[item] : model.buyers_indptr[item + 1]].tolist()
    )
    seeds = buyers | {1, 2}
    assert answer.seed_size == len(seeds)
    returned = [s.index for s in answer.customers]
    assert len(returned) == 30 and not seeds & set(returned)
    # Audience = unit(mean factors of the seed items) + unit(mean unit vector of the seed
    # customers named in the request); a customer's score is their factors . audience.
    items = model.item_factors[[item]].mean(axis=0)
    named = model.customer_unit[[1, 2]].mean(axis=0)
    audience = items / np.linalg.norm(items) + named / np.linalg.norm(named)
    expected = model.customer_factors @ audience
    assert [s.score for s in answer.customers] == pytest.approx(
        expected[returned].tolist(), rel=1e-5
    )
    assert all(
        expected[returned[-1]] >= expected[c]
        for c in range(model.n_customers)
        if c not in seeds and c not in returned and model.customer_warm[c]
    )
