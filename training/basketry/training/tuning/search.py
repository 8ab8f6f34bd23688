"""The search: fit each training candidate on the validation history, sweep serving weights.

Every model is the real pipeline's snapshot, loaded like the server loads it, and scored
on the picks of the served balanced strategy (recommend_many): the number tuned is the
number served. The objective is NDCG@10 of those picks against each validation customer's
target basket. The starting values are trial 0 and are scored first; a candidate must be
strictly better to replace the best, so the result is never worse than the start.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from basketry.server.domain import Strategy
from basketry.server.model import PARAMETERS as SERVING_PARAMETERS
from basketry.server.model import ServingModel
from basketry.training.config import TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.history import basket_history
from basketry.training.evaluation.metrics import ndcg_at, ranking_metrics
from basketry.training.evaluation.protocols import Split
from basketry.training.evaluation.serving import fit_served_model, served_picks
from basketry.training.pipeline import PreparedOrders
from basketry.training.progress import Stages
from basketry.training.tuning.parameters import Value, apply, values_of
from basketry.training.tuning.space import DEFAULT_SPACE, SearchSpace, training_candidates

K = 10
OBJECTIVE = f"ndcg@{K} of the served balanced strategy on the validation targets"


@dataclass(frozen=True)
class Score:
    ndcg: float  # NDCG@K, the objective
    recall: float  # Recall@K, reported
    customer_ndcg: tuple[float, ...]  # NDCG@K per validation customer (sorted ids)

    def gain_standard_error(self, other: Score) -> float:
        """Standard error of the mean per-customer NDCG gain over `other` (paired)."""
        gains = np.subtract(self.customer_ndcg, other.customer_ndcg)
        if gains.size < 2:
            return math.nan
        return float(gains.std(ddof=1) / math.sqrt(gains.size))


@dataclass(frozen=True)
class Trial:
    """One fit: its training values, the best serving weights found for it, and scores."""

    number: int  # 0 = the starting values
    training: dict[str, Value]
    serving: dict[str, Value]
    score: Score  # with `serving`
    start_score: Score  # the same fit with the starting serving weights
    serving_evaluations: int
    fit_seconds: float


@dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]  # in the order run
    best: Trial
    chosen: TrainingConfig  # the start config with the best trial's values
    validation_customers: int

    @property
    def start(self) -> Score:
        """The starting values' score (trial 0 with the starting serving weights)."""
        return self.trials[0].start_score


class ValidationScorer:
    """Scores a served model's balanced picks against the validation split's targets."""

    def __init__(self, validation: Split) -> None:
        history = basket_history(validation.history)
        self._bought = history.bought()
        self._catalogue_size = history.n_items
        self._targets = validation.test
        self._customers = sorted(validation.test)

    def score(self, model: ServingModel) -> Score:
        served = served_picks(model, self._customers, Strategy.BALANCED, K)
        metrics = ranking_metrics(
            served.ranked,
            self._targets,
            self._bought,
            ks=(K,),
            catalogue_size=self._catalogue_size,
        )
        per_customer = tuple(
            ndcg_at(served.ranked[customer], self._targets[customer], K)
            for customer in self._customers
        )
        return Score(metrics[f"ndcg@{K}"], metrics[f"recall@{K}"], per_customer)


def tune(
    prepared: PreparedOrders,
    validation: Split,
    start: TrainingConfig,
    *,
    trials: int,
    seed: int,
    stages: Stages,
    space: SearchSpace = DEFAULT_SPACE,
) -> TuneResult:
    """Search `space` from `start` on `validation` (its history fits, its targets score)."""
    if not validation.test:
        raise TrainingInputError(
            "the validation split has no target baskets: tuning needs customers with at "
            "least two orders before their last one"
        )
    scorer = ValidationScorer(validation)
    start_values = values_of(start)
    serving_start = {name: start_values[name] for name in space.serving}
    candidates = training_candidates(space, start_values, trials, seed)
    done: list[Trial] = []
    best: Trial | None = None
    started = time.perf_counter()
    for number, training in enumerate(candidates):
        config = replace(apply(start, training), quiet=True)  # no ALS bar per trial
        fitted = _fit(prepared, validation, config, training, number)
        trial = _sweep(fitted, serving_start, space.serving, scorer.score)
        done.append(trial)
        if best is None or trial.score.ndcg > best.score.ndcg:
            best = trial
        _log_progress(stages, trial, best, len(candidates), time.perf_counter() - started)
    if best is None:
        raise ValueError("no trial ran")  # training_candidates always yields the start
    chosen = apply(start, {**best.training, **best.serving})
    return TuneResult(done, best, chosen, len(validation.test))


@dataclass(frozen=True)
class _Fitted:
    number: int
    training: dict[str, Value]
    model: ServingModel
    fit_seconds: float


def _fit(
    prepared: PreparedOrders,
    validation: Split,
    config: TrainingConfig,
    training: dict[str, Value],
    number: int,
) -> _Fitted:
    began = time.perf_counter()
    # Each fit publishes into its own scratch directory; the served model is held in RAM.
    with tempfile.TemporaryDirectory(prefix="basketry-tune-") as scratch:
        model = fit_served_model(
            prepared, validation.history, config, Path(scratch), Stages(quiet=True)
        )
    return _Fitted(number, training, model, time.perf_counter() - began)


def _sweep(
    fitted: _Fitted,
    start: Mapping[str, Value],
    options: Mapping[str, Sequence[Value]],
    score: Callable[[ServingModel], Score],
) -> Trial:
    """Coordinate ascent over the serving weights, one pass in `options` order."""
    best_values = dict(start)
    start_score = score(with_serving(fitted.model, best_values))
    best_score = start_score
    evaluations = 1
    for name, candidates in options.items():
        current = best_values[name]
        for candidate in candidates:
            if candidate == current:
                continue
            values = {**best_values, name: candidate}
            result = score(with_serving(fitted.model, values))
            evaluations += 1
            if result.ndcg > best_score.ndcg:
                best_values, best_score = values, result
    return Trial(
        number=fitted.number,
        training=fitted.training,
        serving=best_values,
        score=best_score,
        start_score=start_score,
        serving_evaluations=evaluations,
        fit_seconds=fitted.fit_seconds,
    )


def with_serving(model: ServingModel, values: Mapping[str, Value]) -> ServingModel:
    """`model` serving with other blend weights (manifest names), as if they were published."""
    fields: dict[str, float] = {}
    for name, value in values.items():
        if value is None:
            raise ValueError(f"serving weight {name} needs a value")
        fields[SERVING_PARAMETERS[name][0]] = float(value)
    return replace(model, blend=replace(model.blend, **fields))


def _log_progress(stages: Stages, trial: Trial, best: Trial, total: int, elapsed: float) -> None:
    left = elapsed / (trial.number + 1) * (total - trial.number - 1)
    stages.note(
        "trial %d (%d of %d): %s -> NDCG@%d %.4f (start weights %.4f); best %.4f (trial %d); "
        "~%.0f s left",
        trial.number,
        trial.number + 1,
        total,
        " ".join(f"{name}={value}" for name, value in trial.training.items()),
        K,
        trial.score.ndcg,
        trial.start_score.ndcg,
        best.score.ndcg,
        best.number,
        left,
    )
