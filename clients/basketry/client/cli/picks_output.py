"""Writing picks files: CSV (one row per customer and item) or JSONL (one line per
customer), always through a temporary file renamed into place, so a failed or
interrupted run never leaves half a file behind."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TextIO

from basketry.client import CustomerRecommendation
from basketry.client.cli.common import InputError

CSV_COLUMNS = ("customer_id", "rank", "item_id", "score", "reason", "name")
FORMATS_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class PicksWriter(Protocol):
    def write(self, answer: CustomerRecommendation) -> int:
        """Writes one customer's picks; returns the number of rows written."""
        ...


class CsvPicksWriter:
    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(CSV_COLUMNS)

    def write(self, answer: CustomerRecommendation) -> int:
        for rank, item in enumerate(answer.items, start=1):
            # Scores are computed in float32: 7 significant digits is all they carry.
            score = f"{item.score:.7g}"
            self._writer.writerow(
                (answer.customer_id, rank, item.item_id, score, item.reason.value, item.name)
            )
        return len(answer.items)


class JsonlPicksWriter:
    def __init__(self, handle: TextIO) -> None:
        self._handle = handle

    def write(self, answer: CustomerRecommendation) -> int:
        self._handle.write(json.dumps(dataclasses.asdict(answer), ensure_ascii=False) + "\n")
        return 1


def format_for(path: Path) -> str | None:
    """The output format a file name implies, or None if its suffix says nothing."""
    return FORMATS_BY_SUFFIX.get(path.suffix.lower())


def picks_writer(output_format: str, handle: TextIO) -> PicksWriter:
    if output_format == "csv":
        return CsvPicksWriter(handle)
    return JsonlPicksWriter(handle)


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """Yields a temporary file beside `path`; renames it onto `path` only on success."""
    # A plain exclusive create (not mkstemp) so the file gets the usual umask permissions.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        handle = open(temporary, "x", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from error
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Also on Ctrl-C: the half-written temporary file must not outlive the run.
        temporary.unlink(missing_ok=True)
        raise
