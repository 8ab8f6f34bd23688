"""Fixtures for the evaluation tests: clean order lines from tuples, and a model fitted on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pytest

from basketry.server.model import ServingModel
from basketry.training.als import AlsSettings
from basketry.training.cleaning import TYPED_SCHEMA, CleanOrders
from basketry.training.columns import preset
from basketry.training.config import RulesSettings, TrainingConfig
from basketry.training.evaluation.serving import fit_served_model
from basketry.training.pipeline import PreparedOrders
from basketry.training.progress import Stages

Lines = Callable[[Sequence[tuple[str, str, str, int]]], pl.DataFrame]
Fit = Callable[[pl.DataFrame], ServingModel]


def _order_lines(rows: Sequence[tuple[str, str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "order_id": order,
                "customer_id": customer,
                "item_id": item,
                "quantity": 1.0,
                "ts": ts,
                "price": 1.0,
                "item_name": item,
            }
            for order, customer, item, ts in rows
        ],
        schema=TYPED_SCHEMA,
    )


@pytest.fixture
def order_lines() -> Lines:
    """Clean lines from (order_id, customer_id, item_id, unix ts) tuples (1 unit, price 1)."""
    return _order_lines


@pytest.fixture
def fit_model(tmp_path: Path) -> Fit:
    """Fits the real pipeline (small ALS) on clean lines and loads the served model."""
    config = TrainingConfig(
        orders=(),
        snapshot_dir=tmp_path / "snapshots",
        input_format=preset(None),
        als=AlsSettings(factors=16, regularization=0.05, iterations=15, seed=1, threads=1),
        alpha=3.0,
        rules=RulesSettings(),
        quiet=True,
    )

    def fit(history: pl.DataFrame) -> ServingModel:
        prepared = PreparedOrders(CleanOrders(history, history.height, {}), [], None)
        return fit_served_model(prepared, history, config, config.snapshot_dir, Stages(quiet=True))

    return fit
