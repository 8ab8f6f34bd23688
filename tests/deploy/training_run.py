"""A real training run for the deploy tests: `basketry train` and `basketry evaluate` on a
small order file, writing their metrics textfiles as the compose stack's training job does."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from basketry.cli.main import main

FAST_MODEL = ["--factors", "4", "--iterations", "3", "--threads", "1"]
CUSTOMERS = [f"c{n}" for n in range(60)]
ITEMS = [f"i{n}" for n in range(20)]


@dataclass(frozen=True)
class TrainingRun:
    orders: Path
    snapshot_dir: Path
    textfile_dir: Path  # basketry_training.prom and basketry_evaluation.prom, for node-exporter

    @property
    def training_metrics(self) -> Path:
        return self.textfile_dir / "basketry_training.prom"

    @property
    def evaluation_metrics(self) -> Path:
        return self.textfile_dir / "basketry_evaluation.prom"


def run_training(root: Path) -> TrainingRun:
    """Train and evaluate on a fresh order file under `root`; the run's paths."""
    run = TrainingRun(_write_orders(root / "orders.csv"), root / "snapshots", root / "textfile")
    run.textfile_dir.mkdir()
    common = ["--orders", str(run.orders), *FAST_MODEL]
    train = ["train", *common, "--snapshot-dir", str(run.snapshot_dir), "--quiet"]
    assert main([*train, "--metrics-file", str(run.training_metrics)]) == 0
    evaluate = ["evaluate", *common, "--out", str(root / "evaluation")]
    evaluate += ["--skip-bundles", "--skip-lookalike"]
    assert main([*evaluate, "--metrics-file", str(run.evaluation_metrics)]) == 0
    return run


def _write_orders(path: Path) -> Path:
    """60 customers with 4-7 orders over 90 days, each with favourite items among 20."""
    rng = np.random.default_rng(11)
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "quantity", "timestamp"])
        order = 0
        for customer in CUSTOMERS:
            favourites = rng.choice(len(ITEMS), size=4, replace=False)
            for day in sorted(rng.choice(90, size=int(rng.integers(4, 8)), replace=False)):
                order += 1
                basket = set(rng.choice(favourites, size=2).tolist())
                basket |= set(rng.choice(len(ITEMS), size=int(rng.integers(1, 3))).tolist())
                when = (start + timedelta(days=int(day))).strftime("%Y-%m-%d %H:%M:%S")
                for item in sorted(basket):
                    writer.writerow([f"o{order}", customer, ITEMS[item], 1, when])
    return path
