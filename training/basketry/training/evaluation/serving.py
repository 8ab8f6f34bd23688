"""Basketry itself under evaluation: the real training job and the real serving functions.

The model is fitted by the training pipeline on a split's history and published to a
snapshot directory, loaded and verified like the server loads it, and asked through
recommend_many (what the gRPC Recommend/RecommendBatch call), so the number measured is
the number served.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from basketry.server.domain import Fallback, RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel, build_model
from basketry.server.recommend import recommend_many
from basketry.snapshot import load_latest
from basketry.training.config import TrainingConfig
from basketry.training.pipeline import PreparedOrders, fit_and_publish
from basketry.training.progress import Stages

CHUNK_SIZE = 500  # customers per recommend_many call, like one RecommendBatch chunk
STRATEGIES = (Strategy.BALANCED, Strategy.BUY_AGAIN, Strategy.DISCOVER_NEW)


@dataclass(frozen=True)
class ServedPicks:
    """Each customer's picks (item ids, best first) and how many got the cold fallback."""

    ranked: dict[str, list[str]]
    cold_customers: int
    seconds: float


def fit_served_model(
    prepared: PreparedOrders,
    history: pl.DataFrame,
    config: TrainingConfig,
    snapshot_dir: Path,
    stages: Stages,
) -> ServingModel:
    """Fit on `history` (clean lines) with `config`, publish to `snapshot_dir`, load it back."""
    only_history = replace(prepared, cleaned=replace(prepared.cleaned, lines=history))
    fit_and_publish(only_history, replace(config, snapshot_dir=snapshot_dir), stages)
    return build_model(load_latest(snapshot_dir))


def served_picks(
    model: ServingModel,
    customers: Sequence[str],
    strategy: Strategy,
    k: int,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> ServedPicks:
    """Ask the serving code for `k` picks per customer, unfiltered, a chunk at a time."""
    started = time.perf_counter()
    allowed = allowed_items(model, ItemFilter())
    query = RecommendQuery(customer_id="", limit=k, strategy=strategy)
    ranked: dict[str, list[str]] = {}
    cold = 0
    for start in range(0, len(customers), chunk_size):
        chunk = customers[start : start + chunk_size]
        for customer, answer in zip(
            chunk, recommend_many(model, chunk, query, allowed), strict=True
        ):
            ranked[customer] = [model.item_ids[pick.item] for pick in answer.picks]
            cold += answer.fallback is Fallback.COLD_CUSTOMER
    return ServedPicks(ranked, cold, time.perf_counter() - started)
