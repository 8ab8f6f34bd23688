"""`basketry record`: order files read as training reads them, sent to a real server."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.servers import RunningServer

from basketry.cli.main import main
from basketry.training.cleaning import DROP_REASONS, TYPED_SCHEMA
from basketry.training.record import orders_from_lines

Capture = pytest.CaptureFixture[str]
Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`

ONLINE_RETAIL = Path(__file__).resolve().parents[2] / "examples" / "data" / "online_retail.csv.gz"
# The hand-written rows' columns (conftest.CANONICAL_HEADER) under a shop's own names.
SHOP_HEADER = ["Invoice", "Client", "Sku", "Units", "When", "UnitPrice", "Label"]
SHOP_MAPPING = [
    *("--order-col", "Invoice", "--customer-col", "Client", "--item-col", "Sku"),
    *("--quantity-col", "Units", "--timestamp-col", "When", "--price-col", "UnitPrice"),
    *("--name-col", "Label"),
]


def record(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(["record", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_gzip_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_gzip_csv_with_mapped_columns_is_cleaned_and_recorded_once(
    server: RunningServer,
    tmp_path: Path,
    small_orders: list[list[str]],
    small_expected: dict[str, dict[str, int]],
    capsys: Capture,
) -> None:
    orders = write_gzip_csv(tmp_path / "shop.csv.gz", SHOP_HEADER, small_orders)
    argv = ("--orders", str(orders), *SHOP_MAPPING, "--exclude-items-regex", "POST")
    argv += ("--on-bad-rows", "skip")  # the rows hold two bad rows, skipped and counted
    argv += ("--target", server.target, "--chunk-size", "4")
    code, stdout, stderr = record(capsys, *argv, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    expected = small_expected["counts"]
    assert summary == {
        "rows_read": len(small_orders),
        "rows_dropped": sum(small_expected["dropped"].values()),
        "dropped": {r: small_expected["dropped"].get(r, 0) for r in DROP_REASONS},
        "lines": expected["order_lines"],
        "orders": expected["orders_total"],
        "accepted": expected["orders_total"],
        "duplicates": 0,
    }
    assert "record: 100%" in stderr  # the progress bar

    code, stdout, stderr = record(capsys, *argv)
    assert code == 0, stderr
    assert f"recorded 0 orders; {expected['orders_total']} were already recorded" in stdout
    assert "dropped 11 (missing_order_id 1, missing_item_id 1, cancellation 2," in stdout


@pytest.mark.skipif(not ONLINE_RETAIL.is_file(), reason="bundled data not present")
def test_online_retail_sample_records_the_orders_training_sees(
    server: RunningServer, tmp_path: Path, train: Train, capsys: Capture
) -> None:
    sample = tmp_path / "online_retail_sample.csv.gz"
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8") as source:
        head = "".join(line for _, line in zip(range(3_001), source, strict=False))
    with gzip.open(sample, "wt", encoding="utf-8") as handle:
        handle.write(head)
    trained = train("--orders", str(sample), "--preset", "online-retail")
    assert trained.code == 0, trained.stderr
    orders_total = trained.snapshot().counts["orders_total"]
    assert orders_total > 100

    argv = ("--orders", str(sample), "--preset", "online-retail", "--target", server.target)
    code, stdout, stderr = record(capsys, *argv, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["rows_read"] == 3_000
    assert summary["dropped"]["cancellation"] > 0 and summary["dropped"]["non_product"] > 0
    assert (summary["orders"], summary["accepted"]) == (orders_total, orders_total)
    code, stdout, stderr = record(capsys, *argv, "--json")
    assert code == 0, stderr
    assert (json.loads(stdout)["accepted"], json.loads(stdout)["duplicates"]) == (0, orders_total)


def test_missing_column_is_a_usage_error_naming_it(
    tmp_path: Path, small_orders: list[list[str]], capsys: Capture
) -> None:
    orders = write_gzip_csv(tmp_path / "shop.csv.gz", SHOP_HEADER, small_orders)
    mapping = [arg if arg != "Units" else "Qty" for arg in SHOP_MAPPING]
    # Nothing listens on the target: the file is refused before any connection is made.
    code, stdout, stderr = record(capsys, "--orders", str(orders), *mapping, "--target", "x:1")
    assert (code, stdout) == (2, "")
    assert "basketry record: error:" in stderr
    assert "missing column(s) 'Qty'" in stderr


def test_orders_are_grouped_in_file_order_and_dated_by_their_first_line() -> None:
    rows = [
        ("o2", "c1", "A", 2.0, 200, 1.5, None),
        ("o1", "c2", "B", 1.0, 100, None, None),
        ("o2", "c1", "C", 1.0, 250, -3.0, None),  # a negative price is sent as unknown
    ]
    lines = pl.DataFrame(rows, schema=TYPED_SCHEMA, orient="row")
    orders = orders_from_lines(lines)
    assert [(o.order_id, o.customer_id, o.timestamp) for o in orders] == [
        ("o2", "c1", datetime.fromtimestamp(200, tz=UTC)),
        ("o1", "c2", datetime.fromtimestamp(100, tz=UTC)),
    ]
    assert [(line.item_id, line.quantity, line.price) for line in orders[0].lines] == [
        ("A", 2.0, 1.5),
        ("C", 1.0, None),
    ]


def test_an_order_id_shared_by_two_customers_is_refused(tmp_path: Path, capsys: Capture) -> None:
    text = "order_id,customer_id,item_id,quantity,timestamp\no1,c1,A,1,100\no1,c2,B,1,100\n"
    orders = tmp_path / "orders.csv"
    orders.write_text(text, encoding="utf-8")
    code, _, stderr = record(capsys, "--orders", str(orders), "--timestamp-format", "unix")
    assert code == 2
    assert "order 'o1'" in stderr and "one customer" in stderr


def test_catalog_is_refused(tmp_path: Path, capsys: Capture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["record", "--orders", str(tmp_path / "o.csv"), "--catalog", str(tmp_path / "c")])
    assert caught.value.code == 2
    assert "--catalog is not used" in capsys.readouterr().err
