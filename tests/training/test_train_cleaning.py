"""Drop counts and resulting counts on the hand-written fixture, checked exactly."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basketry.snapshot import LoadedSnapshot
from basketry.training.cleaning import DROP_REASONS

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
Expected = dict[str, dict[str, int]]
# The hand-written rows hold two bad rows (a quantity and a timestamp that do not parse):
# skipped and counted here; tests/training/test_bad_files.py covers the default (refused).
SKIP_BAD_ROWS = ("--on-bad-rows", "skip")


def every_reason(dropped: dict[str, int]) -> dict[str, int]:
    """`dropped` with every drop reason, absent ones 0 (the manifest lists them all)."""
    return {reason: dropped.get(reason, 0) for reason in DROP_REASONS}


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


def _cell(snapshot: LoadedSnapshot, customer: str, item: str) -> int:
    a = snapshot.arrays
    row = int(np.flatnonzero(a["customer_ids"] == customer)[0])
    column = int(np.flatnonzero(a["item_ids"] == item)[0])
    start, stop = a["history_indptr"][row], a["history_indptr"][row + 1]
    return int(start + np.flatnonzero(a["history_items"][start:stop] == column)[0])


def test_every_drop_reason_is_counted(
    train: Train, small_orders_csv: Path, small_expected: Expected
) -> None:
    run = train("--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--exclude-items-regex", "POST")
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    manifest_input = snapshot.manifest["input"]
    assert manifest_input["dropped"] == every_reason(small_expected["dropped"])
    assert manifest_input["rows_read"] == 22
    assert manifest_input["rows_clean"] == 11
    counts = snapshot.counts
    for key, value in small_expected["counts"].items():
        assert counts[key] == value, key
    assert counts["orders"] == 6  # every order is small enough to mine
    assert counts["rules"] == 0  # every pair co-occurs once, below --min-pair-count 2
    assert manifest_input["first_order_ts"] == _ts("2024-01-01 10:00:00")
    assert manifest_input["last_order_ts"] == _ts("2024-01-08 18:45:00")
    assert run.stdout.strip() == str(snapshot.path)


def test_history_and_item_facts(train: Train, small_orders_csv: Path) -> None:
    snapshot = train(
        "--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--exclude-items-regex", "POST"
    ).snapshot()
    a = snapshot.arrays
    assert a["customer_ids"].tolist() == ["c1", "c2", "c3", "c6"]
    assert a["item_ids"].tolist() == ["A", "B", "C", "D", "E"]
    c1_b = _cell(snapshot, "c1", "B")
    assert a["history_orders"][c1_b] == 2
    assert a["history_quantity"][c1_b] == 3.0
    assert a["history_last_ts"][c1_b] == _ts("2024-01-05 09:30:00")
    c1_a = _cell(snapshot, "c1", "A")
    assert a["history_orders"][c1_a] == 1  # two lines of one order
    assert a["history_quantity"][c1_a] == 3.0
    alpha = snapshot.manifest["parameters"]["als.alpha"]
    expected_c1_b = 1 + alpha * math.log1p(2 + 0.1 * math.log1p(3))
    assert math.isclose(a["history_confidence"][c1_b], expected_c1_b, rel_tol=1e-6)
    assert a["item_buyers"].tolist() == [3, 2, 2, 1, 1]
    assert a["item_orders"].tolist() == [3, 3, 2, 1, 1]  # B: o1, o3, o5
    assert a["item_names"].tolist() == ["Apple", "Banana", "Cherry", "Dates", ""]
    assert a["item_prices"][0] == 1.5  # median of 1.50, 1.50, 1.40, 1.60
    assert math.isnan(a["item_prices"][3])  # D never had a price
    assert a["item_in_stock"].all()
    assert a["item_categories"].tolist() == [-1] * 5
    assert (np.diff(a["history_indptr"]) > 0).all()  # every customer has history


def test_manifest_records_inputs_and_parameters(train: Train, small_orders_csv: Path) -> None:
    run = train(
        "--orders",
        str(small_orders_csv),
        *SKIP_BAD_ROWS,
        "--alpha",
        "2.5",
        "--top-partners",
        "7",
        "--buy-again-weight",
        "0.7",
        "--once-only-below",
        "0.2",
    )
    manifest = json.loads((run.snapshot().path / "manifest.json").read_text())
    (file_info,) = manifest["input"]["files"]
    assert file_info["bytes"] == small_orders_csv.stat().st_size
    assert len(file_info["sha256"]) == 64
    parameters = manifest["parameters"]
    assert parameters["als.alpha"] == 2.5
    assert parameters["rules.top_k"] == 7
    assert parameters["blend.buy_again_weight"] == 0.7
    assert parameters["repurchase.once_only_below"] == 0.2
    assert parameters["repurchase.prior_strength"] is None  # estimated: see the metrics
    assert parameters["buy_again.basket_decay"] == 0.9
    assert parameters["blend.copurchase_weight"] == 0.5
    assert manifest["metrics"]["repurchase_prior_strength"] > 0
    assert all(not isinstance(v, dict | list) for v in parameters.values())
    assert manifest["input"]["dropped"]["non_product"] == 0  # no regex given: POST is kept
    assert manifest["input"]["top_items"][0] == "A"
    assert manifest["metrics"]["fit_seconds"] > 0


def test_same_input_gives_identical_arrays(
    train: Train, small_orders_csv: Path, tmp_path: Path
) -> None:
    first = train(
        "--orders", str(small_orders_csv), *SKIP_BAD_ROWS, snapshot_dir=tmp_path / "one"
    ).snapshot()
    second = train(
        "--orders", str(small_orders_csv), *SKIP_BAD_ROWS, snapshot_dir=tmp_path / "two"
    ).snapshot()
    digests = [{k: v["sha256"] for k, v in s.manifest["files"].items()} for s in (first, second)]
    assert digests[0] == digests[1]


def test_keep_prunes_old_versions(train: Train, small_orders_csv: Path, tmp_path: Path) -> None:
    versions = [
        train("--orders", str(small_orders_csv), *SKIP_BAD_ROWS, "--keep", "2").snapshot().version
        for _ in range(3)
    ]
    snapshot_dir = tmp_path / "snap"
    kept = sorted(p.name for p in snapshot_dir.iterdir() if p.is_dir())
    assert len(set(versions)) == 3
    assert kept == sorted(versions[1:])
    assert (snapshot_dir / "LATEST").read_text().strip() == versions[-1]


def test_summary_table_and_stage_logs(
    train: Train, small_orders_csv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="basketry.training")
    run = train(
        "--orders",
        str(small_orders_csv),
        *SKIP_BAD_ROWS,
        "--exclude-items-regex",
        "POST",
        quiet=False,
    )
    assert run.code == 0, run.stderr
    table = dict(
        line.rsplit("  ", 1) for line in run.stdout.strip().splitlines() if "  " in line.strip()
    )
    values = {label.strip(): value.strip() for label, value in table.items()}
    assert values["rows read"] == "22"
    assert values["dropped: cancellation (order id prefix)"] == "2"
    assert values["dropped: non-product item code"] == "1"
    assert values["rows used"] == "11"
    assert (values["customers"], values["items"], values["orders"]) == ("4", "5", "6")
    assert values["snapshot"] == str(run.snapshot().path)
    assert values["fit time"].endswith(" s")
    logged = [r.getMessage() for r in caplog.records if r.name == "basketry.training"]
    for stage in ("read", "clean", "matrices", "fit", "mining", "publish"):
        assert any(m.startswith(f"{stage} done in ") for m in logged), stage
