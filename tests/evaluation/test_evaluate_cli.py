"""`basketry evaluate` end to end on a small order file: real training, real serving code."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from basketry.cli.main import main

FAST_MODEL = ["--factors", "4", "--iterations", "3", "--threads", "1"]


@pytest.fixture(scope="module")
def order_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 customers, 4-7 orders each over 90 days; each customer has favourite items."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "quantity", "timestamp"])
        order = 0
        for customer in range(60):
            favourites = rng.choice(20, size=4, replace=False)
            for day in sorted(rng.choice(90, size=int(rng.integers(4, 8)), replace=False)):
                order += 1
                items = set(rng.choice(favourites, size=2).tolist())
                items |= set(rng.choice(20, size=int(rng.integers(1, 3))).tolist())
                for item in sorted(items):
                    writer.writerow([f"o{order}", f"c{customer}", f"i{item}", 1, _day(day)])
    return path


def _day(day: int) -> str:
    return (datetime(2024, 1, 1, 10) + timedelta(days=int(day))).strftime("%Y-%m-%d %H:%M:%S")


def test_next_basket_writes_json_html_and_svg(
    order_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["evaluate", "--orders", str(order_file), "--out", str(out), *FAST_MODEL]
    assert main(args) == 0
    result = json.loads((out / "evaluation.json").read_text())
    methods = {m["method"]: m["metrics"] for m in result["methods"]}
    assert {"basketry balanced", "basketry buy-again", "basketry discover-new"} <= set(methods)
    assert {"G-TopFreq", "GP-TopFreq", "TIFU-KNN (tuned)", "ALS alone", "item-kNN"} <= set(methods)
    assert result["protocol"]["facts"]["test_customers"] == 60
    for metrics in methods.values():
        assert 0.0 <= metrics["recall@10"] <= metrics["recall@20"] <= 1.0
    # The served strategies behave as served: discover-new never repeats a purchase,
    # buy-again mostly does, and customers' own favourites make P-TopFreq beat best-sellers.
    assert methods["basketry discover-new"]["bought_share@10"] == 0.0
    assert methods["basketry buy-again"]["bought_share@10"] > 0.5
    assert methods["P-TopFreq"]["recall@10"] > methods["G-TopFreq"]["recall@10"]
    assert "table" in result["bundles"] or "skipped" in result["bundles"]
    assert "table" in result["lookalike"] or "skipped" in result["lookalike"]
    assert len(result["data"]["files"][0]["sha256"]) == 64
    html = (out / "report.html").read_text()
    assert "<svg" in html and "TIFU-KNN (tuned)" in html
    assert (out / "chart.svg").read_text().startswith("<svg")
    printed = capsys.readouterr().out
    assert "basketry balanced" in printed and "R@10" in printed


def test_time_window_is_deterministic(order_file: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = [
            "evaluate", "--orders", str(order_file), "--protocol", "time-window",
            "--cutoff", "2024-03-01", "--window-days", "20", "--k", "5",
            "--skip-bundles", "--skip-lookalike", "--out", str(out), *FAST_MODEL,
        ]  # fmt: skip
        assert main(args) == 0
        runs.append(json.loads((out / "evaluation.json").read_text()))
    assert runs[0]["protocol"]["facts"]["cutoff"] == "2024-03-01"
    assert "bundles" not in runs[0]
    # Same seed, same numbers (timings aside).
    first, second = ([(m["method"], m["metrics"]) for m in run["methods"]] for run in runs)
    assert first == second


def test_a_cutoff_outside_the_data_is_a_clear_error(
    order_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "evaluate", "--orders", str(order_file), "--protocol", "time-window",
        "--cutoff", "2020-01-01", "--out", str(tmp_path), *FAST_MODEL,
    ]  # fmt: skip
    assert main(args) == 2
    assert "no history before it" in capsys.readouterr().err
