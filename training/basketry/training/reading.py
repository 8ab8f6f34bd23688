"""Reads order files (CSV, gzip CSV, TSV, Parquet) into frames with canonical column names.

CSV is read with every column as a string, so nothing is guessed or lost before the
cleaning stage parses the values (basketry.training.csv_reading). Parquet keeps its
column types (checked against what each field can be). Besides the canonical columns,
the frame says where each row is and whether its structure is bad
(basketry.training.locations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from basketry.snapshot.validation import sha256_file
from basketry.training.csv_reading import missing_columns_error, read_csv_columns
from basketry.training.errors import TrainingInputError
from basketry.training.locations import DETAIL, LINE, PROBLEM, ROW

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

# What the values of a field may be stored as in Parquet (CSV is all text).
KIND_TYPES: dict[str, str] = {
    "id": "text or numbers",
    "number": "numbers or text",
    "time": "datetimes, dates, unix seconds or text",
    "text": "text",
    "flag": "booleans, numbers or text",
}


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
    path: Path,
    wanted: dict[str, str],
    optional: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, FileInfo]:
    """Read the columns `wanted` (canonical name -> column in the file) and rename them.

    Canonical names in `optional` are skipped when their column is absent; any other
    missing column is a TrainingInputError naming it and listing the columns found.
    `kinds` (canonical name -> KIND_TYPES key) limits the types of Parquet columns.
    Blank lines are not rows. Every problem with the file as a whole is a
    TrainingInputError naming the file (and the line, where there is one).
    """
    check_is_file(path)
    kind = _kind(path)
    if kind == "parquet":
        frame = _read_parquet(path, wanted, optional, kinds or {})
    else:
        frame = read_csv_columns(path, wanted, optional, separator="\t" if kind == "tsv" else ",")
    try:
        info = FileInfo(str(path), path.stat().st_size, sha256_file(path), frame.height)
    except OSError as exc:
        raise TrainingInputError(f"{path}: cannot read: {exc}") from exc
    return frame, info


def check_is_file(path: Path) -> None:
    """TrainingInputError unless `path` is an existing file."""
    if path.is_dir():
        raise TrainingInputError(f"{path}: a directory, not a file")
    if not path.is_file():
        raise TrainingInputError(f"file not found: {path}")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "tsv" if ".tsv" in name else "csv"
    raise TrainingInputError(
        f"{path}: unknown file type (expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})"
    )


def _read_parquet(
    path: Path, wanted: dict[str, str], optional: Sequence[str], kinds: Mapping[str, str]
) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(path)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise TrainingInputError(f"{path}: cannot read as parquet: {_first_line(exc)}") from exc
    error = missing_columns_error(path, wanted, optional, list(schema))
    if error:
        raise error
    present = {name: column for name, column in wanted.items() if column in schema}
    for name, column in present.items():
        kind = kinds.get(name)
        if kind is not None and not _type_fits(schema[column], kind):
            raise TrainingInputError(
                f"{path}: column {column!r} holds {schema[column]}; {name} must be "
                f"{KIND_TYPES[kind]}"
            )
    try:
        frame = pl.read_parquet(path, columns=sorted(set(present.values())))
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise TrainingInputError(f"{path}: cannot read as parquet: {_first_line(exc)}") from exc
    return frame.select(
        *(pl.col(column).alias(name) for name, column in present.items()),
        pl.lit(None, dtype=pl.Int64).alias(LINE),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW),
        pl.lit(None, dtype=pl.String).alias(PROBLEM),
        pl.lit(None, dtype=pl.String).alias(DETAIL),
    )


def _type_fits(dtype: pl.DataType, kind: str) -> bool:
    text = dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum) or dtype == pl.Null
    numeric = dtype.is_integer() or dtype.is_float() or dtype.is_decimal()
    if kind == "id" or kind == "number":
        return text or numeric
    if kind == "time":
        return text or dtype.is_integer() or isinstance(dtype, pl.Datetime | pl.Date)
    if kind == "flag":
        return text or numeric or dtype == pl.Boolean
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
