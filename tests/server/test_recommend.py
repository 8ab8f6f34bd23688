"""Recommend strategies, cart context, fallbacks and explanations, without gRPC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.tiny import publish_tiny_snapshot

from basketry.server.batch import recommend_batch
from basketry.server.domain import Fallback, Reason, Recommendation, RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel, build_model
from basketry.server.recommend import recommend
from basketry.snapshot import load_latest


def ask(model: ServingModel, customer: str, **options: object) -> Recommendation:
    query = RecommendQuery(customer_id=customer, **{"limit": 10, **options})  # type: ignore[arg-type]
    return recommend(model, query, allowed_items(model, query.item_filter))


def ids(model: ServingModel, answer: Recommendation) -> list[str]:
    return [model.item_ids[pick.item] for pick in answer.picks]


def reasons(answer: Recommendation) -> list[Reason]:
    return [pick.reason for pick in answer.picks]


def tiny_with(tmp_path: Path, **parameters: float) -> ServingModel:
    publish_tiny_snapshot(tmp_path, parameters=parameters)
    return build_model(load_latest(tmp_path))


def test_buy_again_ranks_by_decayed_frequency_then_fills_with_popular(
    tiny_model: ServingModel,
) -> None:
    answer = ask(tiny_model, "u0", strategy=Strategy.BUY_AGAIN)
    # a: 3 orders today = 3; c: 4 orders two half-lives ago = 1; then popular d, b, e.
    assert ids(tiny_model, answer) == ["a", "c", "d", "b", "e"]
    assert reasons(answer) == [Reason.BUY_AGAIN] * 2 + [Reason.POPULAR] * 3
    assert [p.score for p in answer.picks[:2]] == pytest.approx([1.0, 1 / 3])
    assert answer.fallback is Fallback.EMPTY_AFTER_FILTERS


def test_half_life_parameter_changes_the_buy_again_order(tmp_path: Path) -> None:
    model = tiny_with(tmp_path, **{"buy_again.half_life_days": 1e6})
    assert ids(model, ask(model, "u0", strategy=Strategy.BUY_AGAIN, limit=2)) == ["c", "a"]


def test_discover_new_never_returns_bought_items(tiny_model: ServingModel) -> None:
    answer = ask(tiny_model, "u0", strategy=Strategy.DISCOVER_NEW, limit=2)
    assert ids(tiny_model, answer) == ["b", "d"]
    assert reasons(answer) == [Reason.PERSONALIZED] * 2
    assert answer.fallback is Fallback.NONE
    # e has a negative latent score: not a personal pick, but popular fill; a and c never.
    filled = ask(tiny_model, "u0", strategy=Strategy.DISCOVER_NEW)
    assert ids(tiny_model, filled) == ["b", "d", "e"]
    assert filled.fallback is Fallback.EMPTY_AFTER_FILTERS


def test_balanced_blends_normalised_lists_with_the_manifest_weight(
    tiny_model: ServingModel,
) -> None:
    answer = ask(tiny_model, "u0", limit=4)
    assert ids(tiny_model, answer) == ["a", "b", "c", "d"]
    assert reasons(answer) == [
        Reason.BUY_AGAIN,
        Reason.PERSONALIZED,
        Reason.BUY_AGAIN,
        Reason.PERSONALIZED,
    ]
    assert [p.score for p in answer.picks] == pytest.approx([0.5, 0.5, 0.5 / 3, 0.5 * 0.28 / 0.92])


@pytest.mark.parametrize(
    ("weight", "expected"), [(1.0, ["a", "c"]), (0.0, ["b", "d"]), (0.25, ["b", "a"])]
)
def test_blend_weight_is_a_snapshot_parameter(
    tmp_path: Path, weight: float, expected: list[str]
) -> None:
    model = tiny_with(tmp_path, **{"blend.buy_again_weight": weight})
    assert ids(model, ask(model, "u0", limit=2)) == expected


def test_cart_items_are_never_returned_and_pull_in_their_partners(tiny_model: ServingModel) -> None:
    answer = ask(tiny_model, "u0", context_item_ids=("a",), limit=3)
    # b: personal 0.5 + bought-with-a 0.5; c: buy-again 0.5 + with-a 0.125; d: personal.
    assert ids(tiny_model, answer) == ["b", "c", "d"]
    assert [p.score for p in answer.picks] == pytest.approx([1.0, 0.625, 0.5 * 0.28 / 0.92])


def test_no_fallback_flag_when_the_filter_leaves_only_personal_picks(
    tiny_model: ServingModel,
) -> None:
    answer = ask(tiny_model, "u0", item_filter=ItemFilter(only_categories=("food",)))
    assert ids(tiny_model, answer) == ["a", "b"]
    assert answer.fallback is Fallback.NONE


def test_cold_customer_gets_popular_items(tiny_model: ServingModel) -> None:
    for customer in ("u2", "somebody-new"):
        answer = ask(tiny_model, customer)
        assert ids(tiny_model, answer) == ["d", "a", "b", "c", "e"]
        assert set(reasons(answer)) == {Reason.POPULAR}
        assert answer.fallback is Fallback.COLD_CUSTOMER


def test_cold_customer_popularity_respects_category_filter(tiny_model: ServingModel) -> None:
    answer = ask(tiny_model, "u2", item_filter=ItemFilter(only_categories=("toys",)))
    assert ids(tiny_model, answer) == ["d", "c"]


def test_cold_customer_with_a_cart_gets_its_partners_first(tiny_model: ServingModel) -> None:
    answer = ask(tiny_model, "u2", context_item_ids=("a", "c"), explain=True)
    assert ids(tiny_model, answer) == ["b", "d", "e"]
    assert reasons(answer) == [Reason.BOUGHT_TOGETHER, Reason.BOUGHT_TOGETHER, Reason.POPULAR]
    assert [p.because for p in answer.picks] == [(0,), (2,), ()]
    assert answer.fallback is Fallback.COLD_CUSTOMER


def test_explain_names_the_purchases_behind_each_pick(tiny_model: ServingModel) -> None:
    answer = ask(tiny_model, "u0", limit=4, explain=True)
    a, c = tiny_model.item_index["a"], tiny_model.item_index["c"]
    # b is most like a (weighted cosine 3.98 vs 0.55), d most like c.
    assert [p.because for p in answer.picks] == [(a,), (a, c), (c,), (c, a)]
    assert all(p.because == () for p in ask(tiny_model, "u0", limit=4).picks)


def test_answers_hold_limit_unique_finite_allowed_items(synthetic_model: ServingModel) -> None:
    model = synthetic_model
    rng = np.random.default_rng(7)
    filters = [
        ItemFilter(),
        ItemFilter(only_categories=("cat1",), in_stock_only=True),
        ItemFilter(exclude_item_ids=tuple(model.item_ids[:40]), min_price=2.0, max_price=8.0),
        ItemFilter(exclude_categories=("cat0", "cat2", "cat3", "cat4")),
    ]
    for customer in [*rng.choice(model.customer_ids, 15).tolist(), "c0199", "nobody"]:
        for strategy in Strategy:
            for item_filter in filters:
                cart = tuple(rng.choice(model.item_ids, 2).tolist())
                answer = ask(
                    model,
                    customer,
                    strategy=strategy,
                    item_filter=item_filter,
                    context_item_ids=cart,
                    limit=25,
                    explain=True,
                )
                eligible = allowed_items(model, item_filter)
                eligible[model.item_indices(cart)] = False
                index = model.customer_index.get(customer)
                if (
                    strategy is Strategy.DISCOVER_NEW
                    and index is not None
                    and model.customer_warm[index]
                ):
                    eligible[model.history_items[model.history_slice(index)]] = False
                items = [p.item for p in answer.picks]
                assert len(items) == len(set(items)) == min(25, int(eligible.sum()))
                assert all(eligible[i] for i in items)
                assert all(np.isfinite(p.score) for p in answer.picks)
                scores = [p.score for p in answer.picks]
                assert scores == sorted(scores, reverse=True)


def test_batch_matches_single_answers_across_chunks(synthetic_model: ServingModel) -> None:
    model = synthetic_model
    customers = ["c0005", "nobody", *model.customer_ids[10:30], "c0005", "c0199"]
    for strategy in Strategy:
        template = RecommendQuery(customer_id="", limit=7, strategy=strategy, explain=True)
        allowed = allowed_items(model, template.item_filter)
        answers = list(recommend_batch(model, customers, template, allowed, chunk_size=6))
        assert [customer for customer, _ in answers] == customers
        for customer, answer in answers:
            single = ask(model, customer, limit=7, strategy=strategy, explain=True)
            assert [(p.item, p.reason, p.because) for p in answer.picks] == [
                (p.item, p.reason, p.because) for p in single.picks
            ]
            assert [p.score for p in answer.picks] == pytest.approx(
                [p.score for p in single.picks], rel=1e-5
            )
