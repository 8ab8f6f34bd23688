"""Reading the customer list for `basketry picks`: one id per line, or a CSV file with a
`customer_id` column; '-' reads standard input."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from basketry.client.cli.common import InputError

ID_COLUMN = "customer_id"


@dataclass(frozen=True)
class CustomerList:
    """Unique ids in first-seen order, plus what was skipped (line numbers are 1-based)."""

    ids: tuple[str, ...]
    duplicate_ids: tuple[str, ...]
    empty_lines: tuple[int, ...]


def read_customer_ids(path: str) -> CustomerList:
    try:
        with _open(path) as handle:
            customers = _parse(handle, path)
    except OSError as error:
        raise InputError(f"cannot read customers file {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"customers file {path} is not UTF-8 text: {error.reason}") from error
    if not customers.ids:
        raise InputError(f"customers file {path} holds no customer ids")
    return customers


@contextmanager
def _open(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    # utf-8-sig drops the byte-order mark spreadsheet programs put in front of CSV files.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        yield handle


def _parse(handle: TextIO, path: str) -> CustomerList:
    reader = csv.reader(handle)
    column = 0
    ids: dict[str, None] = {}
    duplicates: list[str] = []
    empty_lines: list[int] = []
    for row in reader:
        cells = [cell.strip() for cell in row]
        if reader.line_num == 1 and ID_COLUMN in cells:
            column = cells.index(ID_COLUMN)
            continue
        if reader.line_num == 1 and len(cells) > 1:
            raise InputError(
                f"{path}: a CSV customers file needs a {ID_COLUMN!r} column in its header "
                f"(first line has {', '.join(cells)!r})"
            )
        customer_id = cells[column] if column < len(cells) else ""
        if not customer_id:
            empty_lines.append(reader.line_num)
        elif customer_id in ids:
            duplicates.append(customer_id)
        else:
            ids[customer_id] = None
    return CustomerList(tuple(ids), tuple(duplicates), tuple(empty_lines))
