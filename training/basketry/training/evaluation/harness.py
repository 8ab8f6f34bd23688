"""Runs one evaluation: every method's picks on one split, scored the same way.

Basketry's strategies come from the real pipeline and serving code (serving.py); the
baselines from baselines.py and tifuknn.py. TIFU-KNN is reported with each published
setting and with the setting tuned on the validation split (never the test baskets).
The bundle and look-alike protocols run on the same fitted model, with the split's
history and target lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from basketry.server.domain import Strategy
from basketry.training.config import TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation import bundles, lookalike
from basketry.training.evaluation.baselines import (
    Ranked,
    als_alone,
    g_topfreq,
    gp_topfreq,
    item_knn,
    p_topfreq,
)
from basketry.training.evaluation.history import basket_history
from basketry.training.evaluation.metrics import ranking_metrics
from basketry.training.evaluation.protocols import Split, validation_split
from basketry.training.evaluation.serving import STRATEGIES, fit_served_model, served_picks
from basketry.training.evaluation.tifuknn import (
    PUBLISHED,
    ranked_for_grid,
    tune_on_validation,
    tuning_grid,
)
from basketry.training.pipeline import PreparedOrders
from basketry.training.progress import Stages

T = TypeVar("T")
STRATEGY_NAMES = {
    Strategy.BALANCED: "basketry balanced",
    Strategy.BUY_AGAIN: "basketry buy-again",
    Strategy.DISCOVER_NEW: "basketry discover-new",
}


@dataclass(frozen=True)
class EvaluationSettings:
    ks: tuple[int, ...]
    seed: int
    bundles: bool = True
    lookalike: bool = True


def evaluate_split(
    prepared: PreparedOrders,
    split: Split,
    config: TrainingConfig,
    settings: EvaluationSettings,
    snapshot_dir: Path,
    stages: Stages,
) -> dict[str, Any]:
    """Every method's metrics on `split` (JSON-able); `snapshot_dir` receives the fitted model."""
    depth = max(settings.ks)
    customers = sorted(split.test)
    with stages.stage("index history"):
        history = basket_history(split.history)
        bought = history.bought()
    with stages.stage("fit basketry on the history"):
        model = fit_served_model(
            prepared, split.history, config, snapshot_dir, Stages(quiet=config.quiet)
        )
    methods: list[dict[str, Any]] = []

    def record(name: str, kind: str, ranked: Ranked, seconds: float, **notes: Any) -> None:
        metrics = ranking_metrics(
            ranked, split.test, bought, ks=settings.ks, catalogue_size=history.n_items
        )
        rounded = {key: round(value, 6) for key, value in metrics.items()}
        methods.append(
            {"method": name, "kind": kind, "metrics": rounded, "seconds": round(seconds, 3)}
            | ({"notes": notes} if notes else {})
        )
        stages.note(
            "%-32s recall@%d %.4f", name, settings.ks[0], metrics[f"recall@{settings.ks[0]}"]
        )

    with stages.stage("basketry picks (recommend_many)"):
        for strategy in STRATEGIES:
            served = served_picks(model, customers, strategy, depth)
            record(
                STRATEGY_NAMES[strategy],
                "basketry",
                served.ranked,
                served.seconds,
                cold_customers=served.cold_customers,
            )
    simple: list[tuple[str, Callable[[], Ranked]]] = [
        ("G-TopFreq", lambda: g_topfreq(history, customers, depth)),
        ("P-TopFreq", lambda: p_topfreq(history, customers, depth)),
        ("GP-TopFreq", lambda: gp_topfreq(history, customers, depth)),
        ("item-kNN", lambda: item_knn(history, customers, depth)),
        (
            "ALS alone",
            lambda: als_alone(
                model.customer_factors,
                model.item_factors,
                _rows(model.customer_index, customers),
                model.item_ids,
                customers,
                depth,
            ),
        ),
    ]
    with stages.stage("baselines"):
        for name, run in simple:
            started = time.perf_counter()
            ranked = run()
            record(name, "baseline", ranked, time.perf_counter() - started)
    with stages.stage("TIFU-KNN (published settings, then tuned on validation)"):
        answers = ranked_for_grid(history, customers, depth, list(PUBLISHED.values()))
        for dataset, ((setting, ranked), seconds) in zip(PUBLISHED, _timed(answers), strict=True):
            record(
                f"TIFU-KNN ({dataset} settings)",
                "baseline",
                ranked,
                seconds,
                settings=setting.as_dict(),
            )
        started = time.perf_counter()
        tuning = tune_on_validation(validation_split(split), settings.ks[0], tuning_grid())
        ranked = next(ranked_for_grid(history, customers, depth, [tuning.best]))[1]
        record(
            "TIFU-KNN (tuned)",
            "baseline",
            ranked,
            time.perf_counter() - started,
            settings=tuning.best.as_dict(),
            chosen_by=f"{tuning.metric} on the validation split",
        )
    result: dict[str, Any] = {
        "methods": methods,
        "tifu_tuning": {"metric": tuning.metric, "grid": tuning.scores},
        "model": {"version": model.version, "counts": dict(model.manifest.get("counts", {}))},
    }
    if settings.bundles:
        with stages.stage("bundles (within-basket)"):
            result["bundles"] = _optional(
                lambda: bundles.evaluate_bundles(
                    split.history, split.target_lines, model, seed=settings.seed
                )
            )
    if settings.lookalike:
        with stages.stage("look-alike"):
            result["lookalike"] = _optional(
                lambda: lookalike.evaluate_lookalike(
                    split.history, split.target_lines, model, seed=settings.seed
                )
            )
    return result


def _timed(items: Iterator[T]) -> Iterator[tuple[T, float]]:
    """Each item with the seconds spent producing it."""
    started = time.perf_counter()
    for item in items:
        yield item, time.perf_counter() - started
        started = time.perf_counter()


def _optional(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # A protocol with too little data (e.g. too few first-time buyers) is reported, not fatal.
    try:
        return run()
    except TrainingInputError as exc:
        return {"skipped": str(exc)}


def _rows(index: Mapping[str, int], customers: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.array([index.get(customer, -1) for customer in customers], dtype=np.int64)
