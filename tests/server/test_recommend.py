"""Recommend strategies, cart context, fallbacks and explanations, without gRPC."""

from __future__ import annotations

from dataclasses import replace
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


def test_buy_again_scores_share_times_repeat_probability_times_due(
    tiny_model: ServingModel,
) -> None:
    answer = ask(tiny_model, "u0", strategy=Strategy.BUY_AGAIN)
    # c: 0.5 * 0.5 * 1 (60 days >= its 30-day cycle) = 0.25; a: 0.6 * 0.6 * 0.5 (bought
    # today, cycle 7 days) = 0.18, normalised to c's 0.25; then popular d, b, e.
    assert ids(tiny_model, answer) == ["c", "a", "d", "b", "e"]
    assert reasons(answer) == [Reason.BUY_AGAIN] * 2 + [Reason.POPULAR] * 3
    assert [p.score for p in answer.picks[:2]] == pytest.approx([1.0, 0.18 / 0.25])
    assert answer.fallback is Fallback.EMPTY_AFTER_FILTERS


def test_a_consumable_comes_back_when_it_is_due(tiny_model: ServingModel) -> None:
    # a was bought on the reference day: held back. A week later (its cycle) it is due:
    # a 0.6 * 0.6 * 1 = 0.36 against c's 0.25.
    assert ids(tiny_model, ask(tiny_model, "u0", strategy=Strategy.BUY_AGAIN, limit=2)) == [
        "c",
        "a",
    ]
    week_later = replace(tiny_model, reference_ts=tiny_model.reference_ts + 7 * 86_400)
    answer = ask(week_later, "u0", strategy=Strategy.BUY_AGAIN, limit=2)
    assert ids(week_later, answer) == ["a", "c"]
    assert [p.score for p in answer.picks] == pytest.approx([1.0, 0.25 / 0.36])


@pytest.mark.parametrize(("weight", "expected"), [(0.0, ["a", "c"]), (0.5, ["c", "a"])])
def test_due_weight_is_a_snapshot_parameter(
    tmp_path: Path, weight: float, expected: list[str]
) -> None:
    model = tiny_with(tmp_path, **{"buy_again.due_weight": weight})
    assert ids(model, ask(model, "u0", strategy=Strategy.BUY_AGAIN, limit=2)) == expected


def test_once_only_items_are_never_offered_again_to_their_buyer(
    tiny_model: ServingModel,
) -> None:
    d = tiny_model.item_index["d"]
    assert tiny_model.item_once_only[d]
    # u1 bought d; d is c's partner and the most popular item, yet never comes back.
    for strategy in Strategy:
        for cart in ((), ("c",)):
            answer = ask(tiny_model, "u1", strategy=strategy, context_item_ids=cart)
            assert "d" not in ids(tiny_model, answer)
    # u0 never bought d: it stays a candidate for u0.
    assert "d" in ids(tiny_model, ask(tiny_model, "u0", strategy=Strategy.DISCOVER_NEW))


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
    # buy-again c 0.5, a 0.5 * 0.72; latent (never bought) b 0.5, d 0.5 * 0.28 / 0.92;
    # b and c tie at 0.5: the lower index first.
    assert ids(tiny_model, answer) == ["b", "c", "a", "d"]
    assert reasons(answer) == [
        Reason.PERSONALIZED,
        Reason.BUY_AGAIN,
        Reason.BUY_AGAIN,
        Reason.PERSONALIZED,
    ]
    assert [p.score for p in answer.picks] == pytest.approx([0.5, 0.5, 0.36, 0.5 * 0.28 / 0.92])


@pytest.mark.parametrize(
    ("weight", "expected"), [(1.0, ["c", "a"]), (0.0, ["b", "d"]), (0.25, ["b", "c"])]
)
def test_blend_weight_is_a_snapshot_parameter(
    tmp_path: Path, weight: float, expected: list[str]
) -> None:
    model = tiny_with(tmp_path, **{"blend.buy_again_weight": weight})
    assert ids(model, ask(model, "u0", limit=2)) == expected


def test_discovery_adds_partners_of_recent_purchases(tmp_path: Path) -> None:
    model = tiny_with(tmp_path, **{"blend.copurchase_weight": 1.0})
    # u0's purchases name b (a -> b, z 4, share 0.6) and d (c -> d, z 0.5, share 0.5).
    answer = ask(model, "u0", strategy=Strategy.DISCOVER_NEW, explain=True)
    assert ids(model, answer)[:2] == ["b", "d"]
    assert reasons(answer)[:2] == [Reason.BOUGHT_TOGETHER] * 2
    assert [p.score for p in answer.picks[:2]] == pytest.approx([1.0, 0.25 / 2.4])
    a, c = model.item_index["a"], model.item_index["c"]
    assert [p.because for p in answer.picks[:2]] == [(a,), (c,)]


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
    # Picks b, c, a, d: b is most like a (weighted cosine 3.98 vs 0.55), then c; d most like c;
    # buy-again picks name themselves.
    assert [p.because for p in answer.picks] == [(a, c), (c,), (a,), (c, a)]
    assert [p.repeat_probability for p in answer.picks] == pytest.approx([0.3, 0.5, 0.6, 0.05])
    # Cycles: b and d were never bought twice (unknown = 0).
    assert [p.repeat_cycle_days for p in answer.picks] == [0.0, 30.0, 7.0, 0.0]
    plain = ask(tiny_model, "u0", limit=4).picks
    assert all(p.because == () and p.repeat_probability == 0.0 for p in plain)


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
                if index is not None:
                    bought = model.history_items[model.history_slice(index)]
                    eligible[bought[model.item_once_only[bought]]] = False
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
