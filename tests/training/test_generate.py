"""`basketry generate`: the synthetic history has the structure it promises, and training
finds what was planted in it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from basketry.snapshot import load_latest
from basketry.training.generate import GeneratorSpec, generate, item_id
from basketry.training.pipeline import train
from basketry.training.progress import Stages
from basketry.training.tuning.parameters import base_config

SPEC = GeneratorSpec(order_lines=60_000, customers=4_000, items=1_500, categories=30, bundles=30)


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return generate(SPEC, Stages(quiet=True)).orders


def test_same_seed_same_history_and_another_seed_another(history: pl.DataFrame) -> None:
    assert generate(SPEC, Stages(quiet=True)).orders.equals(history)
    other = GeneratorSpec(**{**SPEC.__dict__, "seed": SPEC.seed + 1})
    assert not generate(other, Stages(quiet=True)).orders.equals(history)


def test_sizes_close_to_the_request(history: pl.DataFrame) -> None:
    assert 0.99 * SPEC.order_lines <= history.height <= SPEC.order_lines
    assert history["customer_id"].n_unique() == SPEC.customers
    assert history["item_id"].n_unique() <= SPEC.items
    # One line per (order, item); quantities positive; a customer's order has one time.
    assert history.select("order_id", "item_id").is_unique().all()
    assert history["quantity"].min() >= 1  # type: ignore[operator]
    per_order = history.group_by("order_id").agg(
        pl.col("customer_id").n_unique(), pl.col("timestamp").n_unique()
    )
    assert per_order["customer_id"].max() == 1 and per_order["timestamp"].max() == 1
    mean_basket = history.height / history["order_id"].n_unique()
    assert 0.7 * SPEC.basket_size <= mean_basket <= 1.5 * SPEC.basket_size


def test_popularity_is_long_tailed(history: pl.DataFrame) -> None:
    lines_per_item = np.sort(history.group_by("item_id").len()["len"].to_numpy())[::-1]
    top_tenth = lines_per_item[: len(lines_per_item) // 10].sum() / lines_per_item.sum()
    # Uniform popularity would give 0.10; retail data gives roughly 0.4-0.6.
    assert top_tenth > 0.35


def test_repeat_items_are_bought_again_and_others_rarely(history: pl.DataFrame) -> None:
    truth = generate(SPEC, Stages(quiet=True)).truth
    repeat_ids = {item_id(int(i)) for i in truth.repeat_items}
    buys = history.group_by("customer_id", "item_id").agg(pl.col("order_id").n_unique())
    rebought = buys.with_columns(
        again=pl.col("order_id") > 1, repeat=pl.col("item_id").is_in(list(repeat_ids))
    )
    rates = rebought.group_by("repeat").agg(pl.col("again").mean())
    rate = dict(zip(rates["repeat"], rates["again"], strict=True))
    assert rate[True] > 2 * rate[False]


def test_training_finds_the_planted_bundles(history: pl.DataFrame, tmp_path: Path) -> None:
    orders = tmp_path / "orders.parquet"
    history.write_parquet(orders)
    train(base_config((orders,), tmp_path / "snapshots", threads=1))
    snapshot = load_latest(tmp_path / "snapshots")
    ids = snapshot.arrays["item_ids"]
    index = {str(item): i for i, item in enumerate(ids)}
    indptr, partners = snapshot.arrays["pairs_indptr"], snapshot.arrays["pairs_partner"]
    truth = generate(SPEC, Stages(quiet=True)).truth
    found = 0
    for anchor, partner in zip(truth.bundle_anchors, truth.bundle_partners, strict=True):
        a = index.get(item_id(int(anchor)))
        if a is None:
            continue
        top5 = partners[indptr[a] : indptr[a + 1]][:5]
        found += index.get(item_id(int(partner)), -1) in top5
    assert found >= 0.8 * len(truth.bundle_anchors)


def test_cli_writes_files_that_train_reads(tmp_path: Path) -> None:
    from basketry.cli.main import main

    out, catalog, truth = tmp_path / "o.csv.gz", tmp_path / "c.csv", tmp_path / "t.json"
    argv = ["generate", "--out", str(out), "--catalog-out", str(catalog)]
    argv += ["--truth-out", str(truth), "--lines", "2e4", "--customers", "1_000", "--items", "500"]
    assert main(argv) == 0
    planted = json.loads(truth.read_text())
    assert len(planted["bundles"]) == 10 and planted["repeat_cycle_days"]
    assert main(["train", "--orders", str(out), "--catalog", str(catalog),
                 "--snapshot-dir", str(tmp_path / "s")]) == 0  # fmt: skip
    assert load_latest(tmp_path / "s").counts["customers"] == 1_000


@pytest.mark.parametrize(
    "change, message",
    [
        ({"order_lines": 100}, "cannot give"),
        ({"categories": 5_000}, "categories must not exceed items"),
        ({"bundles": 1_000}, "bundles must be at most half"),
        ({"explore_share": 1.5}, "explore_share must be within 0..1"),
    ],
)
def test_impossible_settings_are_refused(change: dict[str, int | float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorSpec(**{**SPEC.__dict__, **change})
