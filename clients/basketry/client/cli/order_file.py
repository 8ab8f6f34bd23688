"""Reading a canonical order file for `basketry record`.

Columns: order_id, customer_id, item_id, quantity, timestamp and optionally price, with a
header row; one row per order line. Timestamps are ISO 8601 (naive means UTC) or unix
seconds; an empty timestamp lets the server use its clock. Files ending in .gz are
decompressed.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from basketry.client import Order, OrderLine
from basketry.client.cli.common import InputError

REQUIRED_COLUMNS = ("order_id", "customer_id", "item_id", "quantity", "timestamp")
MAX_LINES_PER_ORDER = 1000
UNIX_SECONDS = re.compile(r"\d+(\.\d*)?")


@dataclass
class _OrderDraft:
    customer_id: str
    timestamp: datetime | None
    lines: list[OrderLine] = field(default_factory=list)


def read_orders(path: Path) -> list[Order]:
    """The file's orders in first-seen order; InputError names the line of any bad value."""
    try:
        with _open(path) as handle:
            drafts = _parse(handle, path)
    except OSError as error:
        raise InputError(f"cannot read orders file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"orders file {path} is not UTF-8 text: {error.reason}") from error
    if not drafts:
        raise InputError(f"orders file {path} holds no order lines")
    return [
        Order(order_id, draft.customer_id, draft.lines, draft.timestamp)
        for order_id, draft in drafts.items()
    ]


@contextmanager
def _open(path: Path) -> Iterator[TextIO]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
            yield handle
    else:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield handle


def _parse(handle: TextIO, path: Path) -> dict[str, _OrderDraft]:
    reader = csv.DictReader(handle)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; an orders file needs the header "
            f"{','.join(REQUIRED_COLUMNS)}[,price]"
        )
    drafts: dict[str, _OrderDraft] = {}
    for row in reader:
        where = f"{path} line {reader.line_num}"
        order_id, customer_id, item_id = (
            _required(row, column, where) for column in ("order_id", "customer_id", "item_id")
        )
        draft = drafts.setdefault(
            order_id, _OrderDraft(customer_id, _timestamp(row["timestamp"], where))
        )
        if draft.customer_id != customer_id:
            raise InputError(
                f"{where}: order {order_id} belongs to customer {draft.customer_id}, "
                f"not {customer_id}"
            )
        if len(draft.lines) == MAX_LINES_PER_ORDER:
            raise InputError(f"{where}: order {order_id} has more than {MAX_LINES_PER_ORDER} lines")
        quantity = _number(row["quantity"], "quantity", where)
        if quantity <= 0:
            raise InputError(f"{where}: quantity must be > 0, got {row['quantity']!r}")
        price_text = (row.get("price") or "").strip()
        price = _number(price_text, "price", where) if price_text else None
        draft.lines.append(OrderLine(item_id, quantity, price))
    return drafts


def _required(row: dict[str, str | None], column: str, where: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise InputError(f"{where}: empty {column}")
    return value


def _number(text: str | None, column: str, where: str) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise InputError(f"{where}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {column} must be finite, got {text!r}")
    return value


def _timestamp(text: str | None, where: str) -> datetime | None:
    value = (text or "").strip()
    if not value:
        return None
    if UNIX_SECONDS.fullmatch(value):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise InputError(f"{where}: timestamp {value!r} is out of range") from error
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{where}: timestamp {value!r} is neither ISO 8601 nor unix seconds"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
