"""Recorded orders in the serving functions (no gRPC): fold-in, once-only, buy-again.

The tiny snapshot (tests/support/tiny.py) names no ALS parameters, so fold-in uses
training's defaults: regularization 0.5, alpha 3, units weight 0.1, basket decay 0.9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.tiny import REFERENCE_TS

from basketry.server.domain import Fallback, Reason, Recommendation, RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.history import merged_history, snapshot_history
from basketry.server.memory_store import InMemoryOrderStore
from basketry.server.model import ServingModel
from basketry.server.orders import OrderStore, RecordedLine, RecordedOrder
from basketry.server.recommend import recommend, recommend_many

HOUR = 3_600
DAY = 86_400


def order(
    order_id: str, customer: str, *items: str, at: int = REFERENCE_TS + HOUR
) -> RecordedOrder:
    return RecordedOrder(order_id, customer, at, tuple(RecordedLine(i, 1.0) for i in items))


def ask(
    model: ServingModel, customer: str, orders: OrderStore | None = None, **options: object
) -> Recommendation:
    query = RecommendQuery(customer_id=customer, **{"limit": 5, **options})  # type: ignore[arg-type]
    return recommend(model, query, allowed_items(model, ItemFilter()), orders)


def ids(model: ServingModel, answer: Recommendation) -> list[str]:
    return [model.item_ids[pick.item] for pick in answer.picks]


def direct_solve(model: ServingModel, confidence: dict[str, float]) -> np.ndarray:
    """x = (Yᵀ C Y + λI)⁻¹ Yᵀ C p with C and p over every item (dense, the textbook form)."""
    y = model.item_factors.astype(np.float64)
    c = np.ones(model.n_items)
    p = np.zeros(model.n_items)
    for item_id, value in confidence.items():
        c[model.item_index[item_id]] = value
        p[model.item_index[item_id]] = 1.0
    system = y.T @ (c[:, None] * y) + 0.5 * np.eye(y.shape[1])
    solution: np.ndarray = np.linalg.solve(system, y.T @ (c * p))
    return solution


def one_order_confidence(units: float = 1.0, orders: float = 1.0) -> float:
    return 1 + 3 * math.log(1 + orders + 0.1 * math.log(1 + units))


def test_a_new_customer_is_folded_in_from_the_first_order(tiny_model: ServingModel) -> None:
    store = InMemoryOrderStore()
    before = ask(tiny_model, "newbie", store)
    assert before.fallback is Fallback.COLD_CUSTOMER
    assert {pick.reason for pick in before.picks} == {Reason.POPULAR}

    store.record([order("o1", "newbie", "c")])
    history = merged_history(tiny_model, None, store.orders_of(["newbie"])["newbie"])
    assert history.items.tolist() == [tiny_model.item_index["c"]]
    assert history.confidence == pytest.approx([one_order_confidence()])
    assert history.factors == pytest.approx(
        direct_solve(tiny_model, {"c": one_order_confidence()}), rel=1e-5
    )
    after = ask(tiny_model, "newbie", store, strategy=Strategy.DISCOVER_NEW)
    # Personalised now: c's neighbour d (factors [0.1, 0.9]) leads; d is once-only but
    # newbie never bought it.
    assert after.fallback is not Fallback.COLD_CUSTOMER
    assert after.picks[0].reason is Reason.PERSONALIZED
    assert ids(tiny_model, after)[0] == "d"
    assert "c" not in ids(tiny_model, after)  # bought: not new any more


def test_a_known_customers_vector_and_picks_move(tiny_model: ServingModel) -> None:
    u0 = tiny_model.customer_index["u0"]
    store = InMemoryOrderStore()
    before = ask(tiny_model, "u0", store, strategy=Strategy.DISCOVER_NEW)
    assert ids(tiny_model, before)[0] == "b"

    store.record([order("o1", "u0", "b", "b")])  # two lines of b: 2 units, one order
    history = merged_history(tiny_model, u0, store.orders_of(["u0"])["u0"])
    # a and c keep the snapshot's confidence (4 and 5); b's is computed from 1 order, 2 units.
    expected = {"a": 4.0, "b": one_order_confidence(units=2.0), "c": 5.0}
    assert history.confidence == pytest.approx(list(expected.values()))
    assert history.factors == pytest.approx(direct_solve(tiny_model, expected), rel=1e-5)
    assert not np.allclose(history.factors, tiny_model.customer_factors[u0])

    after = ask(tiny_model, "u0", store, strategy=Strategy.DISCOVER_NEW)
    assert "b" not in ids(tiny_model, after)  # bought now
    assert ids(tiny_model, after) != ids(tiny_model, before)


def test_an_unrecorded_customer_keeps_the_snapshot_row(tiny_model: ServingModel) -> None:
    u1 = tiny_model.customer_index["u1"]
    store = InMemoryOrderStore()
    store.record([order("o1", "u0", "b")])
    plain = ask(tiny_model, "u1")
    assert ask(tiny_model, "u1", store) == plain
    history = snapshot_history(tiny_model, u1)
    assert history.items.tolist() == [0, 1, 3]
    assert history.warm


def test_a_once_only_item_just_bought_is_excluded_in_every_strategy(
    tiny_model: ServingModel,
) -> None:
    store = InMemoryOrderStore()
    shown_before = {
        strategy: "d" in ids(tiny_model, ask(tiny_model, "u0", store, strategy=strategy))
        for strategy in Strategy
    }
    assert all(shown_before.values())  # d (once-only) is offered to u0 until u0 buys it
    store.record([order("o1", "u0", "d")])
    for strategy in Strategy:
        for cart in ((), ("c",)):
            answer = ask(tiny_model, "u0", store, strategy=strategy, context_item_ids=cart)
            assert "d" not in ids(tiny_model, answer)


def test_buy_again_sees_the_new_purchase(tiny_model: ServingModel) -> None:
    # u0: 5 orders, shares a 0.6 and c 0.5, decay 0.9: T = (1 - 0.9^5) / 0.1 = 4.0951.
    # A new order holding b and c: weighted counts a 0.9 * 0.6T, c 0.9 * 0.5T + 1, b 1,
    # T' = 0.9T + 1. Due: a and c were just bought (held back to 0.5), b has no cycle (1).
    store = InMemoryOrderStore()
    store.record([order("o1", "u0", "b", "c")])
    total = (1 - 0.9**5) / 0.1
    new_total = 0.9 * total + 1
    share = {"a": 0.9 * 0.6 * total, "b": 1.0, "c": 0.9 * 0.5 * total + 1}
    score = {
        "a": share["a"] / new_total * 0.6 * 0.5,
        "b": share["b"] / new_total * 0.3 * 1.0,
        "c": share["c"] / new_total * 0.5 * 0.5,
    }
    answer = ask(tiny_model, "u0", store, strategy=Strategy.BUY_AGAIN, limit=3)
    ranked = sorted(score, key=score.__getitem__, reverse=True)
    assert ids(tiny_model, answer) == ranked == ["c", "a", "b"]
    assert [pick.reason for pick in answer.picks] == [Reason.BUY_AGAIN] * 3
    best = score[ranked[0]]
    assert [pick.score for pick in answer.picks] == pytest.approx(
        [score[item] / best for item in ranked], rel=1e-5
    )
    # Without the order, c was due (60 days, cycle 30) and b was no buy-again pick at all.
    plain = ask(tiny_model, "u0", strategy=Strategy.BUY_AGAIN, limit=3)
    assert plain.picks[1].score == pytest.approx(0.18 / 0.25)
    assert plain.picks[2].reason is Reason.POPULAR


def test_a_repeat_order_adds_to_the_order_count(tiny_model: ServingModel) -> None:
    u0 = tiny_model.customer_index["u0"]
    store = InMemoryOrderStore()
    store.record([order("o1", "u0", "a"), order("o2", "u0", "a", at=REFERENCE_TS + DAY)])
    history = merged_history(tiny_model, u0, store.orders_of(["u0"])["u0"])
    a = int(np.searchsorted(history.items, tiny_model.item_index["a"]))
    # a: 3 orders and 3 units in training, plus 2 orders and 2 units.
    assert history.confidence[a] == pytest.approx(1 + 3 * math.log(1 + 5 + 0.1 * math.log(1 + 5)))
    assert history.last_ts[a] == REFERENCE_TS + DAY


def test_orders_not_newer_than_the_snapshot_are_already_in_it(tiny_model: ServingModel) -> None:
    store = InMemoryOrderStore()
    store.record([order("old", "newbie", "c", at=REFERENCE_TS)])
    assert ask(tiny_model, "newbie", store).fallback is Fallback.COLD_CUSTOMER


def test_unknown_items_are_left_out_but_the_order_counts(tiny_model: ServingModel) -> None:
    store = InMemoryOrderStore()
    store.record([order("o1", "newbie", "not-in-snapshot")])
    answer = ask(tiny_model, "newbie", store)
    assert answer.fallback is Fallback.COLD_CUSTOMER
    u0 = tiny_model.customer_index["u0"]
    history = merged_history(tiny_model, u0, [order("o2", "u0", "not-in-snapshot")])
    snapshot = snapshot_history(tiny_model, u0)
    # One more order holding neither a nor c: both shares shrink by the same factor.
    ratio = history.recent_share / snapshot.recent_share
    assert ratio[0] == pytest.approx(ratio[1]) and ratio[0] < 1


def test_a_batch_mixes_recorded_and_snapshot_rows(tiny_model: ServingModel) -> None:
    store = InMemoryOrderStore()
    store.record([order("o1", "newbie", "c"), order("o2", "u0", "d")])
    customers = ["u1", "newbie", "u0", "ghost", "u1"]
    query = RecommendQuery("", 5, explain=True)
    allowed = allowed_items(tiny_model, ItemFilter())
    together = recommend_many(tiny_model, customers, query, allowed, store)
    for customer, answer in zip(customers, together, strict=True):
        single = recommend_many(tiny_model, [customer], query, allowed, store)[0]
        assert answer.fallback is single.fallback
        assert [(p.item, p.reason, p.because) for p in answer.picks] == [
            (p.item, p.reason, p.because) for p in single.picks
        ]
        # One product for the chunk vs one per customer: float32 rounding may differ.
        assert [p.score for p in answer.picks] == pytest.approx(
            [p.score for p in single.picks], rel=1e-5
        )
    cold = [answer.fallback is Fallback.COLD_CUSTOMER for answer in together]
    assert cold == [False, False, False, True, False]
