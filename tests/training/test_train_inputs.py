"""Input layouts: column mapping (flags, JSON/TOML files), Parquet, gzip, several files, catalog."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from basketry.training.cleaning import DROP_REASONS

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
CsvFile = Callable[[Path, list[str], list[list[str]]], Path]
Expected = dict[str, dict[str, int]]
# The hand-written rows hold two bad rows (a quantity and a timestamp that do not parse):
# skipped and counted here; tests/training/test_bad_files.py covers the default (refused).
SKIP_BAD_ROWS = ("--on-bad-rows", "skip")

CANONICAL_HEADER = [
    "order_id",
    "customer_id",
    "item_id",
    "quantity",
    "timestamp",
    "price",
    "item_name",
]
SHOP_HEADER = ["Invoice", "Client", "SKU", "Qty", "When", "Cost", "Title"]
SHOP_FLAGS = [
    "--order-col",
    "Invoice",
    "--customer-col",
    "Client",
    "--item-col",
    "SKU",
    "--quantity-col",
    "Qty",
    "--timestamp-col",
    "When",
    "--price-col",
    "Cost",
    "--name-col",
    "Title",
]
SHOP_MAPPING = dict(zip(CANONICAL_HEADER, SHOP_HEADER, strict=True))


def assert_small_result(run: Any, small_expected: Expected) -> None:
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    dropped = snapshot.manifest["input"]["dropped"]
    assert dropped == {reason: small_expected["dropped"].get(reason, 0) for reason in DROP_REASONS}
    for key, value in small_expected["counts"].items():
        assert snapshot.counts[key] == value, key
    assert snapshot.arrays["item_names"].tolist() == ["Apple", "Banana", "Cherry", "Dates", ""]


def test_column_flags(
    train: Train,
    csv_file: CsvFile,
    tmp_path: Path,
    small_orders: list[list[str]],
    small_expected: Expected,
) -> None:
    path = csv_file(tmp_path / "shop.csv", SHOP_HEADER, small_orders)
    run = train("--orders", str(path), *SHOP_FLAGS, "--exclude-items-regex", "POST", *SKIP_BAD_ROWS)
    assert_small_result(run, small_expected)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_mapping_file(
    train: Train,
    csv_file: CsvFile,
    tmp_path: Path,
    small_orders: list[list[str]],
    small_expected: Expected,
    suffix: str,
) -> None:
    path = csv_file(tmp_path / "shop.csv", SHOP_HEADER, small_orders)
    mapping = tmp_path / f"columns{suffix}"
    if suffix == ".json":
        mapping.write_text(json.dumps(SHOP_MAPPING))
    else:
        mapping.write_text("".join(f'{key} = "{value}"\n' for key, value in SHOP_MAPPING.items()))
    run = train(
        "--orders",
        str(path),
        "--columns",
        str(mapping),
        "--exclude-items-regex",
        "POST",
        *SKIP_BAD_ROWS,
    )
    assert_small_result(run, small_expected)


def test_gzip_csv(train: Train, small_orders_csv: Path, small_expected: Expected) -> None:
    packed = small_orders_csv.with_suffix(".csv.gz")
    with small_orders_csv.open("rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    run = train("--orders", str(packed), "--exclude-items-regex", "POST", *SKIP_BAD_ROWS)
    assert_small_result(run, small_expected)


def test_parquet_of_strings(
    train: Train, tmp_path: Path, small_orders: list[list[str]], small_expected: Expected
) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(small_orders, schema=CANONICAL_HEADER, orient="row").write_parquet(path)
    run = train("--orders", str(path), "--exclude-items-regex", "POST", *SKIP_BAD_ROWS)
    assert_small_result(run, small_expected)


def test_parquet_with_typed_columns(train: Train, tmp_path: Path) -> None:
    when = [datetime(2024, 3, 1, 9, 0), datetime(2024, 3, 2, 9, 0), datetime(2024, 3, 2, 9, 0)]
    frame = pl.DataFrame(
        {
            "order_id": [1, 2, 2],
            "customer_id": [17850.0, 13047.0, 13047.0],
            "item_id": ["X", "X", "Y"],
            "quantity": [3, 1, 2],
            "timestamp": when,
        }
    )
    path = tmp_path / "typed.parquet"
    frame.write_parquet(path)
    run = train("--orders", str(path), "--preset", "online-retail", *_canonical_flags())
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    assert snapshot.arrays["customer_ids"].tolist() == ["13047", "17850"]
    assert snapshot.manifest["input"]["last_order_ts"] == int(
        when[-1].replace(tzinfo=UTC).timestamp()
    )


def _canonical_flags() -> list[str]:
    # The preset names Online Retail columns; map every field back to its canonical name.
    names = ["order_id", "customer_id", "item_id", "quantity", "timestamp"]
    flags = ["--order-col", "--customer-col", "--item-col", "--quantity-col", "--timestamp-col"]
    return [arg for flag, name in zip(flags, names, strict=True) for arg in (flag, name)]


def test_several_files_are_concatenated(
    train: Train,
    csv_file: CsvFile,
    tmp_path: Path,
    small_orders: list[list[str]],
    small_expected: Expected,
) -> None:
    first = csv_file(tmp_path / "a.csv", CANONICAL_HEADER, small_orders[:9])
    second = csv_file(tmp_path / "b.csv", CANONICAL_HEADER, small_orders[9:])
    # The second file's 13 rows hold both bad rows (15%): above the default 10% share.
    run = train(
        "--orders", str(first), "--orders", str(second), "--exclude-items-regex", "POST",
        *SKIP_BAD_ROWS, "--max-bad-rows-ratio", "0.2",
    )  # fmt: skip
    assert_small_result(run, small_expected)
    assert [f["rows"] for f in run.snapshot().manifest["input"]["files"]] == [9, 13]


def test_explicit_timestamp_format(train: Train, csv_file: CsvFile, tmp_path: Path) -> None:
    rows = [["o1", "c1", "A", "1", "05/01/2024 17:30"], ["o2", "c1", "B", "1", "31/12/2023 08:00"]]
    path = csv_file(tmp_path / "eu.csv", CANONICAL_HEADER[:5], rows)
    run = train("--orders", str(path), "--timestamp-format", "%d/%m/%Y %H:%M")
    assert run.code == 0, run.stderr
    info = run.snapshot().manifest["input"]
    assert info["first_order_at"] == "2023-12-31T08:00:00+00:00"
    assert info["last_order_at"] == "2024-01-05T17:30:00+00:00"
    assert info["dropped"]["bad_timestamp"] == 0


def test_catalog_feeds_item_attributes(
    train: Train, csv_file: CsvFile, small_orders_csv: Path, tmp_path: Path
) -> None:
    catalog = csv_file(
        tmp_path / "catalog.csv",
        ["item_id", "name", "category", "price", "in_stock"],
        [
            ["A", "Apple (catalog)", "fruit", "1.99", "yes"],
            ["B", "", "fruit", "", "0"],
            ["C", "Cherry box", "berries", "4.50", ""],
            ["Z", "Zucchini", "veg", "0.70", "true"],  # never ordered
        ],
    )
    run = train("--orders", str(small_orders_csv), "--catalog", str(catalog), *SKIP_BAD_ROWS)
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    a = snapshot.arrays
    assert a["item_ids"].tolist() == ["A", "B", "C", "D", "E", "POST"]
    assert a["item_names"].tolist() == [
        "Apple (catalog)",
        "Banana",
        "Cherry box",
        "Dates",
        "",
        "Postage",
    ]
    assert a["categories"].tolist() == ["berries", "fruit"]
    assert a["item_categories"].tolist() == [1, 1, 0, -1, -1, -1]
    assert a["item_prices"][0] == np.float32(1.99)
    assert a["item_prices"][1] == np.float32(2.0)  # no catalog price: median from orders
    assert math.isnan(a["item_prices"][3])
    # Catalog flag where stated, in stock when blank, out of stock when not listed.
    assert a["item_in_stock"].tolist() == [True, False, True, False, False, False]
    counts = snapshot.counts
    assert (counts["catalog_items"], counts["catalog_items_not_ordered"]) == (4, 1)
    assert counts["items_missing_from_catalog"] == 3
    assert counts["categories"] == 2
    assert snapshot.manifest["input"]["top_items_by_category"]["fruit"] == ["A", "B"]
