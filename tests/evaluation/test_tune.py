"""`tune` on a small synthetic history: best of a tiny grid, deterministic, test baskets unread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from frames import clean_lines

from basketry.server.domain import Strategy
from basketry.training.cleaning import CleanOrders
from basketry.training.config import TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.history import basket_history
from basketry.training.evaluation.metrics import ranking_metrics
from basketry.training.evaluation.protocols import Split, next_basket_split, validation_split
from basketry.training.evaluation.serving import fit_served_model, served_picks
from basketry.training.pipeline import PreparedOrders
from basketry.training.progress import Stages
from basketry.training.tuning.parameters import apply, base_config
from basketry.training.tuning.search import TuneResult, tune, with_serving
from basketry.training.tuning.space import SearchSpace, training_candidates

TINY_SPACE = SearchSpace(
    training={"als.factors": (2, 6), "buy_again.basket_decay": (0.6, 1.0)},
    serving={"blend.buy_again_weight": (0.3, 1.0)},
)
Orders = list[tuple[str, str, int, str]]


def synthetic_orders(*, rotate_test_items: int = 0) -> Orders:
    """40 customers, 4-6 orders each on distinct days, each with 3 favourite items of 16.

    `rotate_test_items` shifts the item ids of each customer's last order (the next-basket
    test basket) and of nothing else.
    """
    rng = np.random.default_rng(11)
    orders: Orders = []
    number = 0
    for customer in range(40):
        favourites = rng.choice(16, size=3, replace=False)
        days = sorted(rng.choice(60, size=int(rng.integers(4, 7)), replace=False).tolist())
        for position, day in enumerate(days):
            items = set(rng.choice(favourites, size=2).tolist())
            items |= set(rng.choice(16, size=int(rng.integers(1, 3))).tolist())
            if position == len(days) - 1:
                items = {(item + rotate_test_items) % 16 for item in items}
            number += 1
            text = " ".join(f"i{item}" for item in sorted(items))
            orders.append((f"o{number}", f"c{customer}", day, text))
    return orders


def prepared_and_validation(orders: Orders) -> tuple[PreparedOrders, Split, Split]:
    lines = clean_lines(orders)
    split = next_basket_split(lines, min_orders=3, max_orders=50, min_item_count=2)
    prepared = PreparedOrders(CleanOrders(lines, lines.height, {}), [], None)
    return prepared, split, validation_split(split)


def start_config(tmp_path: Path) -> TrainingConfig:
    config = base_config((), tmp_path / "unused")
    # Off the tiny grid for basket_decay (0.9), so trial 0 is a sixth point.
    return apply(config, {"als.factors": 4, "als.iterations": 3})


def run_tune(orders: Orders, tmp_path: Path, trials: int = 10) -> TuneResult:
    prepared, _, validation = prepared_and_validation(orders)
    return tune(
        prepared,
        validation,
        start_config(tmp_path),
        trials=trials,
        seed=5,
        stages=Stages(quiet=True),
        space=TINY_SPACE,
    )


def outcome(result: TuneResult) -> list[tuple[object, ...]]:
    """Everything a trial decided (timings aside)."""
    return [
        (t.number, t.training, t.serving, t.score, t.start_score, t.serving_evaluations)
        for t in result.trials
    ]


def independent_ndcg(validation: Split, config: TrainingConfig, tmp_path: Path) -> float:
    """Fit and score `config` without the tuner: served balanced picks, NDCG@10."""
    prepared = PreparedOrders(
        CleanOrders(validation.history, validation.history.height, {}), [], None
    )
    model = fit_served_model(
        prepared, validation.history, config, tmp_path / "independent", Stages(quiet=True)
    )
    model = with_serving(model, {"blend.buy_again_weight": config.blend.buy_again_weight})
    customers = sorted(validation.test)
    picks = served_picks(model, customers, Strategy.BALANCED, 10)
    history = basket_history(validation.history)
    metrics = ranking_metrics(
        picks.ranked, validation.test, history.bought(), ks=(10,), catalogue_size=history.n_items
    )
    return metrics["ndcg@10"]


def test_tune_tries_the_whole_tiny_grid_and_returns_its_best(tmp_path: Path) -> None:
    result = run_tune(synthetic_orders(), tmp_path)
    tried = [
        (t.training["als.factors"], t.training["buy_again.basket_decay"]) for t in result.trials
    ]
    assert tried[0] == (4, 0.9)  # the start comes first
    assert set(tried[1:]) == {(2, 0.6), (2, 1.0), (6, 0.6), (6, 1.0)}
    best = max(result.trials, key=lambda t: (t.score.ndcg, -t.number))
    assert result.best == best
    assert best.score.ndcg == pytest.approx(
        sum(best.score.customer_ndcg) / len(best.score.customer_ndcg)
    )
    # One serving weight with two values besides the start (0.9): three scorings per fit.
    assert all(t.serving_evaluations == 3 for t in result.trials)
    assert all(t.score.ndcg >= t.start_score.ndcg for t in result.trials)
    chosen = result.chosen
    assert chosen.als.factors == best.training["als.factors"]
    assert chosen.repurchase.basket_decay == best.training["buy_again.basket_decay"]
    assert chosen.blend.buy_again_weight == best.serving["blend.buy_again_weight"]
    # The chosen values refitted and scored without the tuner give the reported number.
    _, _, validation = prepared_and_validation(synthetic_orders())
    assert independent_ndcg(validation, chosen, tmp_path) == pytest.approx(best.score.ndcg)


def test_tune_is_deterministic_and_never_worse_than_the_start(tmp_path: Path) -> None:
    first = run_tune(synthetic_orders(), tmp_path / "a", trials=3)
    second = run_tune(synthetic_orders(), tmp_path / "b", trials=3)
    assert outcome(first) == outcome(second)
    assert len(first.trials) == 3
    assert first.best.score.ndcg >= first.start.ndcg
    assert first.start == first.trials[0].start_score
    assert first.trials[0].serving == {"blend.buy_again_weight": 0.9}  # the start's weight


def test_tune_never_reads_the_test_baskets(tmp_path: Path) -> None:
    # By construction: validation targets are history baskets, never a test basket ...
    _, split, validation = prepared_and_validation(synthetic_orders())
    test_orders = set(split.target_lines["order_id"])
    assert test_orders.isdisjoint(validation.target_lines["order_id"])
    assert test_orders.isdisjoint(validation.history["order_id"])
    assert set(validation.test) <= set(split.test)
    # ... and so changing every test basket's items changes nothing the tuner decides.
    changed = synthetic_orders(rotate_test_items=5)
    _, changed_split, _ = prepared_and_validation(changed)
    assert dict(changed_split.test) != dict(split.test)
    same = outcome(run_tune(synthetic_orders(), tmp_path / "a", trials=3))
    assert outcome(run_tune(changed, tmp_path / "b", trials=3)) == same


def test_a_validation_split_without_targets_is_a_clear_error(tmp_path: Path) -> None:
    empty = Split(
        history=clean_lines([("o1", "c1", 0, "A")]),
        test={},
        target_lines=clean_lines([]),
        cutoff_ts=0,
        description="empty",
    )
    prepared = PreparedOrders(CleanOrders(empty.history, 1, {}), [], None)
    with pytest.raises(TrainingInputError, match="no target baskets"):
        tune(
            prepared,
            empty,
            start_config(tmp_path),
            trials=2,
            seed=1,
            stages=Stages(quiet=True),
            space=TINY_SPACE,
        )


def test_training_candidates_start_first_then_distinct_seeded_grid_points() -> None:
    start = {"als.factors": 4, "buy_again.basket_decay": 0.6}
    first = training_candidates(TINY_SPACE, start, 3, seed=9)
    assert first == training_candidates(TINY_SPACE, start, 3, seed=9)
    assert first[0] == start
    assert len({tuple(c.values()) for c in first}) == 3
    everything = training_candidates(
        TINY_SPACE, {"als.factors": 2, "buy_again.basket_decay": 0.6}, 99, seed=9
    )
    assert len(everything) == 4  # the start is a grid point: not tried twice


def test_a_search_space_refuses_misplaced_or_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="read by the server"):
        SearchSpace(training={"blend.buy_again_weight": (0.5,)}, serving={})
    with pytest.raises(ValueError, match="needs a refit"):
        SearchSpace(training={}, serving={"als.factors": (8,)})
    with pytest.raises(ValueError, match="not a settable"):
        SearchSpace(training={"als.bogus": (1,)}, serving={})
    with pytest.raises(ValueError, match="must be in"):
        SearchSpace(training={}, serving={"blend.buy_again_weight": (1.5,)})
