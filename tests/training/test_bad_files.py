"""A catalogue of bad order (and catalog) files through the real `basketry train` command.

Each kind is refused with exit code 2 and one line on stderr naming the file (and the
line, where there is one), or, for bad rows under --on-bad-rows skip, left out and counted.
A failed run never touches the published snapshots: LATEST and the version directories
stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketry.cli.main import main
from basketry.training.cleaning import DROP_REASONS

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
FAST = ["--factors", "4", "--iterations", "2", "--threads", "1", "--quiet"]
HEADER = ["order_id", "customer_id", "item_id", "quantity", "timestamp", "price", "item_name"]
ITEMS = "ABCDEFGH"


def good_rows(orders: int = 20) -> list[list[str]]:
    """Two lines per order, eight customers and eight items: every row is fine."""
    rows = []
    for n in range(orders):
        when = f"2024-01-{1 + n % 28:02d} 10:00:00"
        for item in (ITEMS[n % 8], ITEMS[(n + 3) % 8]):
            rows.append([f"o{n}", f"c{n % 8}", item, str(1 + n % 3), when, "1.50", f"Item {item}"])
    return rows


def csv_text(rows: list[list[str]], header: list[str] = HEADER, newline: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([header, *rows])
    return out.getvalue()


def with_row(row: list[str], at: int = 5) -> str:
    """Good rows with `row` as data row `at` (0-based), which is then on line at + 2."""
    rows = good_rows()
    rows.insert(at, row)
    return csv_text(rows)


def with_line(line: str, at: int = 5) -> str:
    """Good rows with a raw text line inserted as data row `at` (line at + 2)."""
    lines = csv_text(good_rows()).splitlines(keepends=True)
    lines.insert(at + 1, line + "\n")
    return "".join(lines)


WHEN = "2024-01-05 10:00:00"
BAD_QUANTITY = ["o90", "c1", "A", "abc", WHEN, "1.50", "Apple"]


# Each builder writes files under a directory and returns (the train arguments, the file
# the message must name, the line it must name or None).
Built = tuple[list[str], Path, int | None]


def orders_file(name: str, content: str | bytes) -> Callable[[Path], Built]:
    return lambda folder: _write_orders(folder, name, content, None)


def orders_file_at(name: str, content: str | bytes, line: int) -> Callable[[Path], Built]:
    return lambda folder: _write_orders(folder, name, content, line)


def _write_orders(folder: Path, name: str, content: str | bytes, line: int | None) -> Built:
    path = folder / name
    data = content.encode("utf-8") if isinstance(content, str) else content
    if name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return ["--orders", str(path)], path, line


def gzip_named_csv(folder: Path) -> Built:
    path = folder / "orders.csv"
    path.write_bytes(gzip.compress(csv_text(good_rows()).encode()))
    return ["--orders", str(path)], path, None


def plain_named_gz(folder: Path) -> Built:
    path = folder / "orders.csv.gz"
    path.write_text(csv_text(good_rows()))
    return ["--orders", str(path)], path, None


def truncated_gzip(folder: Path) -> Built:
    path = folder / "orders.csv.gz"
    packed = gzip.compress(csv_text(good_rows() * 20).encode())
    path.write_bytes(packed[: len(packed) // 2])
    return ["--orders", str(path)], path, None


def parquet_file(frame: pl.DataFrame, line: int | None = None) -> Callable[[Path], Built]:
    def build(folder: Path) -> Built:
        path = folder / "orders.parquet"
        frame.write_parquet(path)
        return ["--orders", str(path)], path, line

    return build


def junk_parquet(folder: Path) -> Built:
    path = folder / "orders.parquet"
    path.write_bytes(b"PAR1 but not really a parquet file at all")
    return ["--orders", str(path)], path, None


def a_directory(folder: Path) -> Built:
    path = folder / "orders.csv"
    path.mkdir()
    return ["--orders", str(path)], path, None


def two_files_with_bad_rows(folder: Path) -> Built:
    first, second = folder / "a.csv", folder / "b.csv"
    first.write_text(with_row(BAD_QUANTITY, at=3))
    second.write_text(with_row(["o91", "c2", "B", "2", "soon", "1.0", "B"], at=7))
    return ["--orders", str(first), "--orders", str(second)], first, 5


def clashing_files(folder: Path) -> Built:
    first, second = folder / "a.csv", folder / "b.csv"
    first.write_text(csv_text(good_rows()))
    second.write_text(csv_text([["o0", "c5", "B", "1", WHEN, "1", "B"]]))
    return ["--orders", str(first), "--orders", str(second)], first, 2


def catalog_with(content: str, line: int) -> Callable[[Path], Built]:
    def build(folder: Path) -> Built:
        orders, catalog = folder / "orders.csv", folder / "catalog.csv"
        orders.write_text(csv_text(good_rows()))
        catalog.write_text(content)
        return ["--orders", str(orders), "--catalog", str(catalog)], catalog, line

    return build


def latin1(text: str) -> bytes:
    return text.encode("latin-1")


def mixed_encodings() -> bytes:
    lines = csv_text(good_rows()).encode().splitlines(keepends=True)
    lines[29] = lines[29].replace(b"Item", "Café".encode("latin-1"))
    return b"".join(lines)


def embedded_newlines_then_bad_row() -> str:
    # Row 1 (line 3) holds a quoted name over three lines, so the bad row 5 is on line 9.
    rows = good_rows()
    rows[1][6] = "Item\nwith\nbreaks"
    rows.insert(5, BAD_QUANTITY)
    return csv_text(rows)


HUGE = 2 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Built]
    fragments: tuple[str, ...]


# kind -> what is written, and what the one-line message must say.
CATALOGUE: dict[str, Case] = {
    # The file as a whole
    "empty file": Case(orders_file("orders.csv", b""), ("empty file",)),
    "only blank lines": Case(orders_file("orders.csv", "\n\n\r\n"), ("only blank lines",)),
    "binary junk": Case(orders_file_at("orders.csv", bytes(range(256)) * 16, 1), ("binary",)),
    "gzip data named .csv": Case(gzip_named_csv, ("gzip-compressed", ".csv.gz")),
    "plain text named .csv.gz": Case(plain_named_gz, ("not gzip data",)),
    "truncated gzip": Case(truncated_gzip, ("ends early",)),
    "Excel workbook named .csv": Case(
        orders_file("orders.csv", b"PK\x03\x04 workbook"), ("Excel workbook",)
    ),
    "UTF-16 text": Case(
        orders_file("orders.csv", csv_text(good_rows()).encode("utf-16")), ("UTF-16",)
    ),
    "Latin-1 text": Case(
        orders_file_at(
            "orders.csv", latin1(with_row(["o90", "c1", "A", "1", WHEN, "1", "Café"])), 7
        ),
        ("not UTF-8", "0xe9"),
    ),
    "mixed encodings": Case(orders_file_at("orders.csv", mixed_encodings(), 30), ("not UTF-8",)),
    "classic Mac line endings (bare CR)": Case(
        orders_file_at("orders.csv", csv_text(good_rows(), newline="\r"), 1), ("bare CR",)
    ),
    "wrong delimiter": Case(
        orders_file("orders.csv", csv_text(good_rows()).replace(",", ";")),
        ("missing column(s)", "semicolon-separated"),
    ),
    "missing column": Case(
        orders_file(
            "orders.csv", csv_text([r[:2] + r[3:] for r in good_rows()], HEADER[:2] + HEADER[3:])
        ),
        ("missing column(s) 'item_id'", "columns found"),
    ),
    "duplicated header name": Case(
        orders_file_at(
            "orders.csv", csv_text([[*r, "X"] for r in good_rows()], [*HEADER, "item_id"]), 1
        ),
        ("'item_id' appears more than once",),
    ),
    "unknown extension": Case(orders_file("orders.xlsx", b"PK"), ("unknown file type",)),
    "a directory": Case(a_directory, ("a directory",)),
    "unreadable Parquet": Case(junk_parquet, ("cannot read as parquet",)),
    "Parquet column of the wrong type": Case(
        parquet_file(
            pl.DataFrame(
                {
                    "order_id": ["o1"],
                    "customer_id": ["c1"],
                    "item_id": ["A"],
                    "quantity": [[1, 2]],
                    "timestamp": ["2024-01-01 10:00:00"],
                }
            )
        ),
        ("column 'quantity' holds List(Int64)", "quantity must be numbers or text"),
    ),
    "quoted field never closed": Case(
        orders_file_at("orders.csv", with_line('o90,c1,A,1,2024-01-05 10:00:00,1.5,"Apple'), 7),
        ("never closes",),
    ),
    "stray quote in a field": Case(
        orders_file_at("orders.csv", with_line('o90,c1,A,1,2024-01-05 10:00:00,1.5,12" box'), 7),
        ('a " character inside an unquoted field',),
    ),
    "huge line without line breaks": Case(
        orders_file_at("orders.csv", "x," * (HUGE // 2), 1), ("the header is", "bytes long")
    ),
    "timestamps in an unknown format": Case(
        orders_file_at(
            "orders.csv", csv_text([[*r[:4], "05.01.2024 10h", *r[5:]] for r in good_rows()]), 2
        ),
        ("cannot parse timestamps like '05.01.2024 10h'", "--timestamp-format"),
    ),
    # Bad rows (refused by default, naming the line, column and value)
    "non-numeric quantity": Case(
        orders_file_at("orders.csv", with_row(BAD_QUANTITY), 7),
        ("1 bad row(s)", "quantity 'abc' is not a number", "--on-bad-rows skip"),
    ),
    "empty quantity": Case(
        orders_file_at("orders.csv", with_row(["o90", "c1", "A", "", WHEN, "1", "A"]), 7),
        ("quantity is empty",),
    ),
    "bad date": Case(
        orders_file_at(
            "orders.csv", with_row(["o90", "c1", "A", "1", "2024-13-45 99:00", "1", "A"]), 7
        ),
        ("timestamp '2024-13-45 99:00' is not a date-time",),
    ),
    "non-numeric price": Case(
        orders_file_at("orders.csv", with_row(["o90", "c1", "A", "1", WHEN, "1,50 €", "A"]), 7),
        ("price '1,50 €' is not a number",),
    ),
    "too many fields": Case(
        orders_file_at("orders.csv", with_line("o90,c1,A,1,2024-01-05,1.5,Apple,extra,more"), 7),
        ("has 9 fields, the header has 7",),
    ),
    "too few fields": Case(
        orders_file_at("orders.csv", with_line("o90,c1,A"), 7), ("has 3 fields, the header has 7",)
    ),
    "header repeated inside the file": Case(
        orders_file_at("orders.csv", with_line(",".join(HEADER)), 7), ("the header line again",)
    ),
    "id with control characters": Case(
        orders_file_at("orders.csv", with_row(["o90", "c1", "A\x1b[31m", "1", WHEN, "1", "A"]), 7),
        ("item id", "holds control characters"),
    ),
    "id longer than the server takes": Case(
        orders_file_at("orders.csv", with_row(["o90", "c" * 300, "A", "1", WHEN, "1", "A"]), 7),
        ("customer id is 300 bytes long",),
    ),
    "huge line": Case(
        orders_file_at("orders.csv", with_row(["o90", "c1", "A", "1", WHEN, "1", "x" * HUGE]), 7),
        ("the line is", "bytes long"),
    ),
    "order id given to another customer": Case(
        orders_file_at("orders.csv", with_row(["o1", "c7", "A", "1", WHEN, "1", "A"]), 7),
        ("order 'o1' is customer 'c1' on an earlier line, customer 'c7' here",),
    ),
    "order ids clashing across files": Case(
        clashing_files, ("order 'o0' is customer 'c0', but customer 'c5' at", "unique across")
    ),
    "bad row after a quoted field with line breaks": Case(
        orders_file_at("orders.csv", embedded_newlines_then_bad_row(), 9), ("'abc'",)
    ),
    "bad row in a CRLF file": Case(
        orders_file_at("orders.csv", with_row(BAD_QUANTITY).replace("\n", "\r\n"), 7), ("'abc'",)
    ),
    "bad row in a gzip file": Case(
        orders_file_at("orders.csv.gz", with_row(BAD_QUANTITY), 7), ("'abc'",)
    ),
    "bad rows in two files": Case(two_files_with_bad_rows, ("2 bad row(s) in 2 files", "'soon'")),
    "bad value in Parquet (a row, no line)": Case(
        parquet_file(pl.DataFrame([*good_rows()[:4], BAD_QUANTITY], schema=HEADER, orient="row")),
        ("row 5: quantity 'abc'",),
    ),
    # The item catalog
    "catalog: non-numeric price": Case(
        catalog_with("item_id,price\nA,1.5\nB,cheap\n", 3), ("price 'cheap' is not a number",)
    ),
    "catalog: item listed twice": Case(
        catalog_with("item_id,price\nA,1.5\nB,2\nA,1.7\n", 4), ("listed again", "catalog.csv:2)")
    ),
    "catalog: wrong number of fields": Case(
        catalog_with("item_id,price\nA,1.5\nB,2,extra\n", 3), ("has 3 fields, the header has 2",)
    ),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot directory with one published version (copied by each test)."""
    folder = tmp_path_factory.mktemp("published")
    orders = folder / "orders.csv"
    orders.write_text(csv_text(good_rows()))
    snapshots = folder / "snapshots"
    assert main(["train", "--orders", str(orders), "--snapshot-dir", str(snapshots), *FAST]) == 0
    return snapshots


def snapshot_state(snapshots: Path) -> tuple[str, list[str]]:
    return (snapshots / "LATEST").read_text(), sorted(p.name for p in snapshots.iterdir())


def copy_of(published: Path, tmp_path: Path) -> Path:
    snapshots = tmp_path / "snapshots"
    shutil.copytree(published, snapshots)
    return snapshots


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("basketry train: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_bad_file_is_refused_naming_file_and_line(
    kind: str, train: Train, published: Path, tmp_path: Path
) -> None:
    snapshots = copy_of(published, tmp_path)
    before = snapshot_state(snapshots)
    folder = tmp_path / "in"
    folder.mkdir()
    argv, named, line = CATALOGUE[kind].build(folder)
    run = train(*argv, snapshot_dir=snapshots)
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    message = one_error_line(run.stderr)
    assert str(named) in message
    if line is not None:
        assert f"{named}:{line}:" in message
    for fragment in CATALOGUE[kind].fragments:
        assert fragment in message
    assert snapshot_state(snapshots) == before


def test_the_catalogue_covers_at_least_twenty_kinds() -> None:
    assert len(CATALOGUE) >= 20


def test_many_bad_rows_are_summed_and_the_first_few_shown(train: Train, tmp_path: Path) -> None:
    rows = good_rows(40)
    for n in range(0, 80, 8):
        rows[n][3] = f"q{n}"
    path = tmp_path / "orders.csv"
    path.write_text(csv_text(rows))
    message = one_error_line(train("--orders", str(path)).stderr)
    assert "10 bad row(s)" in message and "(of 80 rows)" in message
    assert f"{path}:2: quantity 'q0'" in message and f"{path}:34: quantity 'q32'" in message
    assert "'q40'" not in message and "and 5 more" in message


def test_skip_counts_bad_rows_by_reason_and_trains_on_the_good_ones(
    train: Train, published: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = good_rows(40)
    text = csv_text(rows[:10])
    text += "o90,c1,ONLY_IN_BAD_ROW,abc,2024-01-05 10:00:00,1.5,x\n"  # bad quantity
    text += "o91,c1,A\n"  # too few fields
    text += csv_text(rows[10:]).split("\n", 1)[1]
    path = tmp_path / "orders.csv"
    path.write_text(text)
    metrics = tmp_path / "basketry_training.prom"
    snapshots = copy_of(published, tmp_path)
    run = train(
        "--orders", str(path), "--on-bad-rows", "skip", "--metrics-file", str(metrics),
        snapshot_dir=snapshots, quiet=False,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("skipped 2 bad row(s): ")
    assert f"{path}:12: quantity 'abc'" in warning and f"{path}:13: has 3 fields" in warning
    snapshot = run.snapshot()
    info = snapshot.manifest["input"]
    assert info["rows_read"] == 82 and info["rows_clean"] == 80
    assert info["dropped"] == {
        reason: {"bad_quantity": 1, "bad_field_count": 1}.get(reason, 0) for reason in DROP_REASONS
    }
    assert "ONLY_IN_BAD_ROW" not in snapshot.arrays["item_ids"].tolist()
    assert snapshot.manifest["parameters"]["input.on_bad_rows"] == "skip"
    assert 'basketry_training_rows_dropped{reason="bad_field_count"} 1' in metrics.read_text()
    assert "dropped: bad row: wrong number of fields" in run.stdout


def test_skip_still_refuses_a_file_that_is_mostly_bad(
    train: Train, published: Path, tmp_path: Path
) -> None:
    rows = good_rows(10)
    for row in rows[:6]:
        row[4] = "not a date"
    path = tmp_path / "orders.csv"
    path.write_text(csv_text(rows))
    snapshots = copy_of(published, tmp_path)
    before = snapshot_state(snapshots)
    run = train("--orders", str(path), "--on-bad-rows", "skip", snapshot_dir=snapshots)
    message = one_error_line(run.stderr)
    assert run.code == 2
    assert f"{path}: 6 of 20 rows are bad (30%)" in message
    assert "--max-bad-rows-ratio 0.1" in message
    assert snapshot_state(snapshots) == before
    again = train(
        "--orders", str(path), "--on-bad-rows", "skip", "--max-bad-rows-ratio", "0.5",
        snapshot_dir=snapshots,
    )  # fmt: skip
    assert again.code == 0, again.stderr
    assert again.snapshot().manifest["input"]["dropped"]["bad_timestamp"] == 6


def test_the_policy_comes_from_the_environment_too(
    train: Train, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(with_row(BAD_QUANTITY))
    monkeypatch.setenv("BASKETRY_ON_BAD_ROWS", "skip")
    run = train("--orders", str(path))
    assert run.code == 0, run.stderr
    assert run.snapshot().manifest["input"]["dropped"]["bad_quantity"] == 1


def test_skip_leaves_bad_catalog_rows_out(
    train: Train, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orders, catalog = tmp_path / "orders.csv", tmp_path / "catalog.csv"
    orders.write_text(csv_text(good_rows()))
    listed = "".join(f"{item},{item.lower()},2.5\n" for item in [*ITEMS, *"IJKLMNOPQRST"])
    catalog.write_text(f"item_id,category,price\n{listed}Z,z,cheap\n")
    run = train("--orders", str(orders), "--catalog", str(catalog), "--on-bad-rows", "skip")
    assert run.code == 0, run.stderr
    assert any(f"{catalog}:22: price 'cheap'" in r.getMessage() for r in caplog.records)
    assert run.snapshot().counts["catalog_items"] == 20


def test_the_spark_engine_refuses_the_same_files_before_starting_spark(
    train: Train, tmp_path: Path
) -> None:
    pytest.importorskip("pyspark")
    path = tmp_path / "orders.csv"
    path.write_text(with_row(BAD_QUANTITY))
    run = train("--orders", str(path), "--engine", "spark")
    assert run.code == 2
    assert f"{path}:7: quantity 'abc' is not a number" in one_error_line(run.stderr)


def test_a_ratio_outside_zero_to_one_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--orders", "o.csv", "--snapshot-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--max-bad-rows-ratio", "1.5"])
    assert exited.value.code == 2
    assert "--max-bad-rows-ratio: must be within 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("orders.csv", bytes(range(256)) * 16, "binary data"),
        ("orders.csv", with_row(BAD_QUANTITY).encode(), "quantity 'abc' is not a number"),
    ],
)
def test_the_command_prints_one_line_and_no_traceback(
    tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    command = [sys.executable, "-c", "from basketry.cli.main import main; raise SystemExit(main())"]
    argv = ["train", "--orders", str(path), "--snapshot-dir", str(tmp_path / "s"), *FAST]
    done = subprocess.run(
        [*command, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert fragment in one_error_line(done.stderr)
    assert not (tmp_path / "s" / "LATEST").exists()


# Bytes that break CSV files in the ways real exports do.
DAMAGE = [b'"', b",", b"\n", b"\r", b"\x00", b"\xe9", b"\xff\xfe", b"  ", b'""', b"\t", b";", b"C"]
SMALL = csv_text(good_rows(10)).encode()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(SMALL)), st.sampled_from(DAMAGE), st.integers(0, 3)),
        min_size=1,
        max_size=4,
    ),
    on_bad_rows=st.sampled_from(["fail", "skip"]),
)
def test_damaged_files_get_a_clear_answer_never_a_crash(
    edits: list[tuple[int, bytes, int]], on_bad_rows: str
) -> None:
    data = bytearray(SMALL)
    for position, inserted, removed in edits:
        data[position : position + removed] = inserted
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "orders.csv"
        path.write_bytes(bytes(data))
        argv = ["train", "--orders", str(path), "--snapshot-dir", f"{scratch}/s", *FAST]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([*argv, "--on-bad-rows", on_bad_rows, "--max-bad-rows-ratio", "0.5"])
        assert code in (0, 2)
        if code == 2:
            assert err.getvalue().startswith("basketry train: error: "), err.getvalue()
            assert not (Path(scratch) / "s" / "LATEST").exists()
