"""Reads order files (CSV, gzip CSV, TSV, Parquet) into frames with canonical column names.

CSV is read with every column as a string, so nothing is guessed or lost before the
cleaning stage parses and counts bad values. Parquet keeps its column types (ids are
cast to strings here).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from basketry.snapshot.validation import sha256_file
from basketry.training.errors import TrainingInputError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class FileInfo:
    """What was read, for the manifest: path, size and content fingerprint."""

    path: str
    bytes: int
    sha256: str
    rows: int

    def as_manifest(self) -> dict[str, str | int]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256, "rows": self.rows}


def read_table(
    path: Path, wanted: dict[str, str], optional: Sequence[str] = ()
) -> tuple[pl.DataFrame, FileInfo]:
    """Read the columns `wanted` (canonical name -> column in the file) and rename them.

    Canonical names in `optional` are skipped when their column is absent; any other
    missing column is a TrainingInputError naming it and listing the columns found.
    """
    if not path.is_file():
        raise TrainingInputError(f"file not found: {path}")
    found = _column_names(path)
    missing = [
        column for name, column in wanted.items() if column not in found and name not in optional
    ]
    if missing:
        raise TrainingInputError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"columns found: {', '.join(repr(c) for c in found)}"
        )
    present = {name: column for name, column in wanted.items() if column in found}
    frame = _read_columns(path, sorted(set(present.values())))
    renamed = frame.select(pl.col(column).alias(name) for name, column in present.items())
    try:
        info = FileInfo(str(path), path.stat().st_size, sha256_file(path), renamed.height)
    except OSError as exc:
        raise TrainingInputError(f"{path}: cannot read: {exc}") from exc
    return renamed, info


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "tsv" if ".tsv" in name else "csv"
    raise TrainingInputError(
        f"{path}: unknown file type (expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})"
    )


def _column_names(path: Path) -> list[str]:
    kind = _kind(path)
    try:
        if kind == "parquet":
            return list(pl.read_parquet_schema(path))
        return _csv_header(path, delimiter="\t" if kind == "tsv" else ",")
    except (OSError, UnicodeDecodeError, csv.Error, pl.exceptions.PolarsError) as exc:
        raise TrainingInputError(f"{path}: cannot read as {kind}: {exc}") from exc


def _csv_header(path: Path, delimiter: str) -> list[str]:
    # Reading the first line directly is cheap even for a large gzip file.
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        header = next(csv.reader(text, delimiter=delimiter), None)
    if not header:
        raise TrainingInputError(f"{path}: empty file (no header row)")
    return header


def _read_columns(path: Path, columns: list[str]) -> pl.DataFrame:
    kind = _kind(path)
    try:
        if kind == "parquet":
            return pl.read_parquet(path, columns=columns)
        return pl.read_csv(
            path,
            columns=columns,
            separator="\t" if kind == "tsv" else ",",
            infer_schema=False,
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise TrainingInputError(f"{path}: cannot read as {kind}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
