"""Bad input: exit code 2, one clear line on stderr, no traceback, nothing published."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
CsvFile = Callable[[Path, list[str], list[list[str]]], Path]

HEADER = ["order_id", "customer_id", "item_id", "quantity", "timestamp"]
ROWS = [
    ["o1", "c1", "A", "1", "2024-01-01 10:00:00"],
    ["o2", "c2", "B", "2", "2024-01-02 10:00:00"],
]


def assert_refused(run: Any, *fragments: str) -> None:
    assert run.code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("basketry train: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (run.snapshot_dir / "LATEST").exists()


def test_missing_orders_file(train: Train, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert_refused(train("--orders", str(missing)), "file not found", str(missing))


def test_missing_catalog_file(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    missing = tmp_path / "catalog.csv"
    assert_refused(train("--orders", str(orders), "--catalog", str(missing)), str(missing))


def test_missing_column_is_named_with_the_columns_found(
    train: Train, tmp_path: Path, csv_file: CsvFile
) -> None:
    orders = csv_file(
        tmp_path / "o.csv", ["order_id", "client", "item_id", "quantity", "timestamp"], ROWS
    )
    assert_refused(train("--orders", str(orders)), "'customer_id'", "columns found", "'client'")


def test_preset_columns_missing(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    assert_refused(train("--orders", str(orders), "--preset", "online-retail"), "'InvoiceNo'")


def test_mapped_column_missing(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    assert_refused(train("--orders", str(orders), "--item-col", "SKU"), "'SKU'")


def test_unreadable_parquet(train: Train, tmp_path: Path) -> None:
    broken = tmp_path / "orders.parquet"
    broken.write_bytes(b"this is not parquet at all")
    assert_refused(train("--orders", str(broken)), str(broken), "parquet")


def test_unknown_file_type(train: Train, tmp_path: Path) -> None:
    odd = tmp_path / "orders.xlsx"
    odd.write_bytes(b"PK")
    assert_refused(train("--orders", str(odd)), "unknown file type")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [('{"shop_id": "x"}', "unknown field(s) shop_id"), ("{not json", "malformed")],
)
def test_bad_mapping_file(
    train: Train, tmp_path: Path, csv_file: CsvFile, content: str, fragment: str
) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    mapping = tmp_path / "columns.json"
    mapping.write_text(content)
    assert_refused(train("--orders", str(orders), "--columns", str(mapping)), fragment)


def test_nothing_left_after_cleaning(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, [["C1", "c1", "A", "1", "2024-01-01 10:00:00"]])
    assert_refused(train("--orders", str(orders)), "no usable order lines")


def test_timestamps_that_cannot_be_inferred(
    train: Train, tmp_path: Path, csv_file: CsvFile
) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, [["o1", "c1", "A", "1", "yesterday"]])
    assert_refused(train("--orders", str(orders)), "'yesterday'", "--timestamp-format")


def test_bad_catalog_stock_flag(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    catalog = csv_file(tmp_path / "c.csv", ["item_id", "in_stock"], [["A", "maybe"]])
    assert_refused(train("--orders", str(orders), "--catalog", str(catalog)), "'maybe'")


def test_invalid_exclude_regex(train: Train, tmp_path: Path, csv_file: CsvFile) -> None:
    orders = csv_file(tmp_path / "o.csv", HEADER, ROWS)
    assert_refused(
        train("--orders", str(orders), "--exclude-items-regex", "(unclosed"), "(unclosed"
    )
