"""`basketry train/evaluate --metrics-file`: the node-exporter textfile, read back with
prometheus_client's own parser and checked against the run's summary and outputs."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from basketry.cli.main import main
from basketry.training.cleaning import DROP_REASONS
from basketry.training.metrics_file import Gauge, update_metrics_file

TrainRunner = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
FAST_MODEL = ["--factors", "4", "--iterations", "2", "--threads", "1"]
# The hand-written rows hold two bad rows (skipped and counted: see test_bad_files.py).
SKIP_BAD_ROWS = ("--on-bad-rows", "skip")
START = datetime(2024, 1, 1, 10)
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def read_series(path: Path) -> Series:
    """Every sample in the textfile: (name, sorted labels) -> value."""
    return series_of(text_string_to_metric_families(path.read_text(encoding="utf-8")))


def series_of(families: Iterable[object]) -> Series:
    series: Series = {}
    for family in families:
        for sample in family.samples:  # type: ignore[attr-defined]
            series[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, tuple(sorted(labels.items())))]


def summary_rows(stdout: str) -> dict[str, str]:
    """The printed summary table: label -> value text."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^(.*\S)\s{2,}(\S.*)$", line)
        if match:
            rows[match.group(1).strip()] = match.group(2)
    return rows


def number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def test_train_writes_the_summary_numbers(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path
) -> None:
    metrics = tmp_path / "textfile" / "basketry_training.prom"
    metrics.parent.mkdir()
    before = time.time()
    argv = ["--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--metrics-file", str(metrics)]
    run = train(*argv, quiet=False)
    assert run.code == 0, run.stderr
    series = read_series(metrics)
    summary = summary_rows(run.stdout)

    assert value(series, "basketry_training_rows_read") == number(summary["rows read"])
    for reason, text in DROP_REASONS.items():
        dropped = value(series, "basketry_training_rows_dropped", reason=reason)
        assert dropped == number(summary[f"dropped: {text}"])
    assert value(series, "basketry_training_customers") == number(summary["customers"])
    assert value(series, "basketry_training_items") == number(summary["items"])
    assert value(series, "basketry_training_orders") == number(summary["orders"])
    assert value(series, "basketry_training_rules") == number(summary["partner entries (rules)"])
    stages = {
        labels[0][1]: seconds
        for (name, labels), seconds in series.items()
        if name == "basketry_training_duration_seconds"
    }
    printed = {
        label.removesuffix(" time"): v for label, v in summary.items() if label.endswith(" time")
    }
    assert set(stages) == set(printed) >= {"read", "clean", "fit", "mining", "publish", "total"}
    for stage, seconds in stages.items():
        assert f"{seconds:.2f} s" == printed[stage]
    assert stages["total"] >= sum(s for stage, s in stages.items() if stage != "total") > 0
    snapshot = run.snapshot()
    assert value(series, "basketry_training_info", version=snapshot.version) == 1.0
    assert Path(summary["snapshot"]).name == snapshot.version
    version_dir = Path(summary["snapshot"])
    on_disk = sum(path.stat().st_size for path in version_dir.iterdir())
    assert value(series, "basketry_training_snapshot_bytes") == on_disk
    assert (
        before <= value(series, "basketry_training_last_success_timestamp_seconds") <= time.time()
    )
    assert not any(name.endswith("failure_timestamp_seconds") for name, _ in series)
    assert [p.name for p in metrics.parent.iterdir()] == [metrics.name]  # no temp file left


def test_a_failed_run_keeps_the_last_success_and_adds_its_failure_time(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path
) -> None:
    metrics = tmp_path / "basketry_training.prom"
    run = train("--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--metrics-file", str(metrics))
    assert run.code == 0, run.stderr
    succeeded = read_series(metrics)

    before = time.time()
    failed = train("--orders", str(tmp_path / "missing.csv"), "--metrics-file", str(metrics))
    assert failed.code == 2 and "file not found" in failed.stderr
    after = read_series(metrics)
    failure = after.pop(("basketry_training_last_failure_timestamp_seconds", ()))
    assert before <= failure <= time.time()
    assert after == succeeded  # the success time, version and counts of the last good run

    # A later success keeps the failure time: an alert compares the two timestamps.
    run = train("--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--metrics-file", str(metrics))
    assert run.code == 0, run.stderr
    again = read_series(metrics)
    assert value(again, "basketry_training_last_failure_timestamp_seconds") == failure
    assert value(again, "basketry_training_last_success_timestamp_seconds") > failure


def test_a_first_run_that_fails_writes_only_its_failure(train: TrainRunner, tmp_path: Path) -> None:
    metrics = tmp_path / "basketry_training.prom"
    empty = tmp_path / "empty.csv"
    empty.write_text("order_id,customer_id,item_id,quantity,timestamp\nC1,c1,A,1,2024-01-01\n")
    run = train("--orders", str(empty), "--metrics-file", str(metrics))
    assert run.code == 2 and "no usable order lines" in run.stderr
    assert set(read_series(metrics)) == {("basketry_training_last_failure_timestamp_seconds", ())}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("training.txt", "must end in .prom"),
        ("missing-dir/training.prom", "does not exist"),
    ],
)
def test_a_bad_metrics_path_fails_before_training(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path, name: str, message: str
) -> None:
    run = train("--orders", str(small_orders_csv), "--metrics-file", str(tmp_path / name))
    assert run.code == 2
    assert message in run.stderr
    assert not (tmp_path / "snap").exists()  # nothing trained, nothing published


def test_label_values_and_help_are_escaped_and_other_families_kept(tmp_path: Path) -> None:
    path = tmp_path / "x.prom"
    path.write_text(
        "# HELP other_total Another writer's counter.\n"
        "# TYPE other_total counter\n"
        'other_total{job="a"} 3\n',
        encoding="utf-8",
    )
    awkward = 'say "hi"\\ and\nbye'
    update_metrics_file(
        path, [Gauge("basketry_test", 'help with "quotes" \\', [({"s": awkward}, 2)])]
    )
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert families["basketry_test"].samples[0].labels == {"s": awkward}
    assert families["basketry_test"].documentation == 'help with "quotes" \\'
    assert families["other"].samples[0].value == 3.0  # a counter: parsed without "_total"


def test_a_file_that_does_not_parse_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "x.prom"
    path.write_text("this is { not a metrics file\n", encoding="utf-8")
    update_metrics_file(path, [Gauge("basketry_test", "h", [({}, 1)])])
    assert read_series(path) == {("basketry_test", ()): 1.0}


def write_order_file(path: Path) -> Path:
    """40 customers, 4-6 orders each over 60 days, favourite items each."""
    rng = np.random.default_rng(3)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "quantity", "timestamp"])
        order = 0
        for customer in range(40):
            favourites = rng.choice(15, size=4, replace=False)
            for day in sorted(rng.choice(60, size=int(rng.integers(4, 7)), replace=False)):
                order += 1
                items = set(rng.choice(favourites, size=2).tolist()) | {int(rng.integers(15))}
                stamp = (START + timedelta(days=int(day))).strftime("%Y-%m-%d %H:%M:%S")
                for item in sorted(items):
                    writer.writerow([f"o{order}", f"c{customer}", f"i{item}", 1, stamp])
    return path


@pytest.fixture(scope="module")
def order_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_order_file(tmp_path_factory.mktemp("orders") / "orders.csv")


def evaluate(order_file: Path, out: Path, metrics: Path, *extra: str) -> dict[str, object]:
    args = ["evaluate", "--orders", str(order_file), "--out", str(out), "--quiet"]
    assert main([*args, "--metrics-file", str(metrics), *FAST_MODEL, *extra]) == 0
    result: dict[str, object] = json.loads((out / "evaluation.json").read_text())
    return result


def expected_scores(result: dict[str, object], protocol: str) -> Series:
    """basketry_evaluation_score samples as evaluation.json says they must be."""
    rows = [(m["method"], "", m["metrics"]) for m in result["methods"]]  # type: ignore[attr-defined]
    for section, prefix in (("bundles", "bundle_"), ("lookalike", "lookalike_")):
        for row in result.get(section, {}).get("table", []):  # type: ignore[attr-defined]
            rows.append((row["method"], prefix, row))
    expected: Series = {}
    for method, prefix, metrics in rows:
        for key, score in metrics.items():
            if "@" in key:
                metric, k = key.split("@")
                labels = {"protocol": protocol, "strategy": method, "metric": prefix + metric}
                labels["k"] = k
                expected[("basketry_evaluation_score", tuple(sorted(labels.items())))] = score
    return expected


def test_evaluate_adds_its_scores_without_clobbering_training_or_other_protocols(
    train: TrainRunner, small_orders_csv: Path, order_file: Path, tmp_path: Path
) -> None:
    metrics = tmp_path / "basketry.prom"
    run = train("--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--metrics-file", str(metrics))
    assert run.code == 0, run.stderr
    training = read_series(metrics)

    before = time.time()
    next_basket = evaluate(order_file, tmp_path / "nb", metrics)
    window = evaluate(
        order_file, tmp_path / "tw", metrics,
        "--protocol", "time-window", "--window-days", "15", "--k", "5",
        "--skip-bundles", "--skip-lookalike",
    )  # fmt: skip
    series = read_series(metrics)

    scores = {key: v for key, v in series.items() if key[0] == "basketry_evaluation_score"}
    expected = expected_scores(next_basket, "next-basket") | expected_scores(window, "time-window")
    assert scores == expected
    labels = [dict(sample_labels) for (_, sample_labels) in scores]
    assert {"basketry balanced", "G-TopFreq", "TIFU-KNN (tuned)"} <= {s["strategy"] for s in labels}
    has_bundles = "table" in next_basket["bundles"]  # type: ignore[operator]
    assert any(s["metric"].startswith("bundle_") for s in labels) == has_bundles
    for protocol in ("next-basket", "time-window"):
        ran = value(series, "basketry_evaluation_last_run_timestamp_seconds", protocol=protocol)
        assert before <= ran <= time.time()
    assert {key: v for key, v in series.items() if key[0].startswith("basketry_training")} == (
        training
    )
