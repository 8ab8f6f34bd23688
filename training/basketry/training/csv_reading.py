"""Reads the wanted columns of a CSV file as text, with each row's line and structure.

The bytes (gzip-decompressed) are checked to be text (file_sniffing) and scanned for
records (csv_layout) before polars parses them, so a problem with the file as a whole is
refused with the file and line, and each row carries its physical line and a structural
problem (wrong number of fields, absurd length) for the bad-row policy to judge.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from basketry.training.csv_layout import UTF8_BOM, Bytes, CsvLayout, scan_layout
from basketry.training.errors import TrainingInputError
from basketry.training.file_sniffing import check_text, check_utf8
from basketry.training.locations import DETAIL, LINE, PROBLEM, ROW

# No order or catalog line is this long; a longer one is junk (or line breaks are missing).
MAX_RECORD_BYTES = 1 << 20
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def read_csv_columns(
    path: Path, wanted: dict[str, str], optional: Sequence[str], *, separator: str
) -> pl.DataFrame:
    """The `wanted` columns (canonical name -> header name) as text, renamed, plus the
    locations columns; blank lines left out."""
    source = str(path)
    buf, parse_from = _load(path)
    check_text(buf, source)
    layout = scan_layout(buf, separator, source)
    if not layout.records:
        raise TrainingInputError(f"{source}: empty file (only blank lines, no header row)")
    header = _header(buf, layout, separator, source)
    error = missing_columns_error(path, wanted, optional, header)
    if error:
        raise TrainingInputError(f"{error}{_separator_hint(header, separator)}")
    present = {name: column for name, column in wanted.items() if column in header}
    _check_duplicates(header, set(present.values()), source, int(layout.line[0]))
    values = _parse(parse_from, buf, sorted(set(present.values())), separator, source)
    data = layout.data()
    if values.height != data.records:
        raise TrainingInputError(
            f"{source}: the CSV parser found {values.height:,} rows where the line scan "
            f"found {data.records:,}; check the file's quoting and line endings"
        )
    frame = pl.concat(
        [
            values.select(pl.col(column).alias(name) for name, column in present.items()),
            _structure(data, n_fields=len(header)),
        ],
        how="horizontal",
    )
    if data.blank.any():  # filtering copies every column: only when there is a blank line
        frame = frame.filter(~pl.col("_blank"))
    return frame.drop("_blank").with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW)
    )


def missing_columns_error(
    path: Path, wanted: dict[str, str], optional: Sequence[str], found: Sequence[str]
) -> TrainingInputError | None:
    """The error for required columns absent from `found`, or None."""
    missing = [
        column for name, column in wanted.items() if column not in found and name not in optional
    ]
    if not missing:
        return None
    return TrainingInputError(
        f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
        f"columns found: {', '.join(repr(c) for c in found)}"
    )


def _load(path: Path) -> tuple[Bytes, Path | bytes]:
    """The file's bytes, and what polars should parse (the path, or the decompressed data)."""
    try:
        if path.name.lower().endswith(".gz"):
            data = gzip.decompress(path.read_bytes())
            return np.frombuffer(data, dtype=np.uint8), data
        if path.stat().st_size == 0:
            return np.zeros(0, dtype=np.uint8), path
        return np.memmap(path, dtype=np.uint8, mode="r"), path
    except EOFError as exc:
        raise TrainingInputError(f"{path}: the gzip data ends early (truncated file?)") from exc
    except gzip.BadGzipFile as exc:
        raise TrainingInputError(
            f"{path}: not gzip data ({exc}); an uncompressed file must not end in .gz"
        ) from exc
    except (OSError, zlib.error) as exc:
        raise TrainingInputError(f"{path}: cannot read: {exc}") from exc


def _header(buf: Bytes, layout: CsvLayout, separator: str, source: str) -> list[str]:
    line, start, size = int(layout.line[0]), int(layout.start[0]), int(layout.size[0])
    if size > MAX_RECORD_BYTES:
        raise TrainingInputError(
            f"{source}:{line}: the header is {size:,} bytes long: not a CSV header "
            "(a different kind of file, or no line breaks?)"
        )
    raw = bytes(buf[start : start + size]).removeprefix(UTF8_BOM)
    if b"\r" in raw.rstrip(b"\r"):
        raise TrainingInputError(
            f"{source}:{line}: lines end in a bare CR (classic Mac OS line endings); convert "
            "the file to LF or CRLF line endings"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        check_utf8(buf, source)  # the header holds the first invalid byte: names its line
        raise TrainingInputError(f"{source}:{line}: the header is not UTF-8: {exc}") from exc
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    except csv.Error as exc:
        raise TrainingInputError(f"{source}:{line}: cannot read the header: {exc}") from exc
    return header


def _check_duplicates(header: list[str], used: set[str], source: str, line: int) -> None:
    repeated = sorted(name for name, count in Counter(header).items() if count > 1 and name in used)
    if repeated:
        raise TrainingInputError(
            f"{source}:{line}: column {repeated[0]!r} appears more than once in the header; "
            "which one holds the data is ambiguous"
        )


def _separator_hint(header: list[str], separator: str) -> str:
    if len(header) != 1:
        return ""
    for other, name in SEPARATOR_NAMES.items():
        if other != separator and other in header[0]:
            return (
                f" (the header has one column: the file looks {name}-separated; .csv files "
                "must be comma-separated, .tsv files tab-separated)"
            )
    return ""


def _parse(
    parse_from: Path | bytes, buf: Bytes, columns: list[str], separator: str, source: str
) -> pl.DataFrame:
    try:
        # Rows with extra fields are flagged by the layout scan; the parser reads on.
        return pl.read_csv(
            parse_from,
            columns=columns,
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=True,
        )
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        check_utf8(buf, source)  # the likeliest cause: then the message names the line
        first = str(exc).strip().splitlines()
        raise TrainingInputError(
            f"{source}: cannot read as CSV: {first[0] if first else type(exc).__name__}"
        ) from exc


def _structure(data: CsvLayout, *, n_fields: int) -> pl.DataFrame:
    """Per data record: its line, whether it is blank, and its structural problem."""
    fields, size = pl.col("_fields"), pl.col("_bytes")
    too_long, wrong_count = size > MAX_RECORD_BYTES, (fields != n_fields) & ~pl.col("_blank")
    frame = pl.DataFrame(
        {LINE: data.line, "_fields": data.fields, "_bytes": data.size, "_blank": data.blank}
    )
    return frame.select(
        LINE,
        "_blank",
        pl.when(too_long)
        .then(pl.lit("line_too_long"))
        .when(wrong_count)
        .then(pl.lit("bad_field_count"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(PROBLEM),
        pl.when(too_long)
        .then(
            pl.format(
                "the line is {} bytes long (at most {} allowed)", size, pl.lit(MAX_RECORD_BYTES)
            )
        )
        .when(wrong_count)
        .then(pl.format("has {} fields, the header has {}", fields, pl.lit(n_fields)))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(DETAIL),
    )
