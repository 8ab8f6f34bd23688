"""Fixtures for the training tests: a hand-written order file and a `basketry train` runner."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from basketry.cli.main import main
from basketry.snapshot import LoadedSnapshot, load_latest

CANONICAL_HEADER = [
    "order_id",
    "customer_id",
    "item_id",
    "quantity",
    "timestamp",
    "price",
    "item_name",
]

# Every drop reason appears; the comment says which one (first matching reason wins).
SMALL_ORDERS = [
    ["o1", "c1", "A", "2", "2024-01-01 10:00:00", "1.50", "Apple"],
    ["o1", "c1", "B", "1", "2024-01-01 10:00:00", "2.00", "Banana"],
    ["o1", "c1", "A", "1", "2024-01-01 10:00:00", "1.50", "Apple"],  # A again in o1
    ["o2", "c2", "A", "3", "2024-01-02 11:00:00", "1.40", "Apple"],
    ["o2", "c2", "C", "1", "2024-01-02 11:00:00", "3.00", "Cherry"],
    ["o3", "c1", "B", "2", "2024-01-05 09:30:00", "2.10", "Banana"],
    ["o3", "c1", "C", "1", "2024-01-05 09:30:00", "3.00", "Cherry"],
    ["o4", "c3", "D", "5", "2024-01-06 12:00:00", "", "Dates"],
    ["o4", "c3", "A", "1", "2024-01-06 12:00:00", "1.60", "apple"],
    ["o5", "c2", "B", "1", "2024-01-07 08:00:00", "2.00", "Banana"],
    ["o14", "c6", "E", "2", "2024-01-08 18:45:00", "0.80", ""],
    ["Co6", "c1", "A", "1", "2024-01-03 10:00:00", "1.50", "Apple"],  # cancellation
    ["Co7", "", "B", "1", "2024-01-03 10:00:00", "2.00", "Banana"],  # cancellation
    ["o8", "", "A", "1", "2024-01-03 12:00:00", "1.50", "Apple"],  # missing customer
    ["o8", " ", "B", "1", "2024-01-03 12:00:00", "2.00", "Banana"],  # missing customer
    ["o9", "c4", "A", "0", "2024-01-04 12:00:00", "1.50", "Apple"],  # non-positive
    ["o9", "c4", "B", "-2", "2024-01-04 12:00:00", "2.00", "Banana"],  # non-positive
    ["o10", "c4", "A", "abc", "2024-01-04 13:00:00", "1.50", "Apple"],  # bad quantity
    ["o11", "c5", "A", "1", "not a date", "1.50", "Apple"],  # bad timestamp
    ["o12", "c1", "POST", "1", "2024-01-05 09:30:00", "4.00", "Postage"],  # non-product
    ["", "c1", "A", "1", "2024-01-05 09:30:00", "1.50", "Apple"],  # missing order id
    ["o13", "c1", "", "1", "2024-01-05 09:30:00", "1.50", "Apple"],  # missing item id
]

SMALL_DROPPED = {
    "missing_order_id": 1,
    "missing_item_id": 1,
    "cancellation": 2,
    "missing_customer": 2,
    "bad_quantity": 1,
    "non_positive_quantity": 2,
    "bad_timestamp": 1,
    "non_product": 1,
}
SMALL_COUNTS = {
    "customers": 4,
    "items": 5,
    "orders_total": 6,
    "order_lines": 11,
    "history_entries": 9,
}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class TrainRun:
    code: int
    stdout: str
    stderr: str
    snapshot_dir: Path

    def snapshot(self) -> LoadedSnapshot:
        return load_latest(self.snapshot_dir)


TrainRunner = Callable[..., TrainRun]


@pytest.fixture
def csv_file() -> Callable[[Path, list[str], list[list[str]]], Path]:
    """write_csv as a fixture, for test modules (conftest is not imported by name)."""
    return write_csv


@pytest.fixture
def small_orders_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "orders.csv", CANONICAL_HEADER, SMALL_ORDERS)


@pytest.fixture
def train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> TrainRunner:
    """Runs `basketry train ARGS --snapshot-dir tmp/snap` in-process (quiet, tiny ALS)."""

    def run(
        *args: str, snapshot_dir: Path | None = None, fast: bool = True, quiet: bool = True
    ) -> TrainRun:
        target = snapshot_dir or tmp_path / "snap"
        argv = ["train", *args, "--snapshot-dir", str(target), *(["--quiet"] if quiet else [])]
        if fast:
            argv += ["--factors", "4", "--iterations", "2", "--threads", "1"]
        code = main(argv)
        captured = capsys.readouterr()
        return TrainRun(code, captured.out, captured.err, target)

    return run


@pytest.fixture
def small_orders() -> list[list[str]]:
    """The hand-written rows (canonical column order), for tests that rewrite them."""
    return [list(row) for row in SMALL_ORDERS]


@pytest.fixture
def small_expected() -> dict[str, dict[str, int]]:
    """Drop counts and snapshot counts the hand-written rows must give."""
    return {"dropped": dict(SMALL_DROPPED), "counts": dict(SMALL_COUNTS)}
