"""Rendering answers: aligned text tables for people, JSON for programs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from basketry.client import BundleItem, ScoredCustomer, ScoredItem

NAME_WIDTH = 40


def to_json(result: Any, *, indent: int | None = 2) -> str:
    """A result dataclass as JSON; enums are their string values, times ISO 8601."""
    return json.dumps(dataclasses.asdict(result), indent=indent, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) for row in rows)
        for i in range(len(headers))
    ]
    widths = [
        max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


def items_table(items: Sequence[ScoredItem]) -> str:
    """One row per item; explained answers (repeat facts filled) get two more columns."""
    if not items:
        return "(no items)"
    headers: tuple[str, ...] = ("rank", "item", "name", "score", "reason", "because")
    rows: list[tuple[object, ...]] = [
        (
            rank,
            item.item_id,
            item.name,
            item.score,
            item.reason.value,
            ", ".join(item.because_item_ids),
        )
        for rank, item in enumerate(items, start=1)
    ]
    if any(item.repeat_probability > 0 for item in items):
        headers += ("repeat p", "cycle days")
        rows = [
            (*row, item.repeat_probability, _days(item.repeat_cycle_days))
            for row, item in zip(rows, items, strict=True)
        ]
    return table(headers, rows)


def _days(days: float) -> str:
    return f"{days:.0f}" if days > 0 else "-"


def bundle_table(items: Sequence[BundleItem]) -> str:
    if not items:
        return "(no items)"
    rows = [
        (
            rank,
            item.item_id,
            item.name,
            item.score,
            item.confidence,
            item.lift,
            item.co_purchase_count,
            item.reason.value,
            ", ".join(item.because_item_ids),
        )
        for rank, item in enumerate(items, start=1)
    ]
    headers = (
        "rank",
        "item",
        "name",
        "score",
        "confidence",
        "lift",
        "co-orders",
        "reason",
        "because",
    )
    return table(headers, rows)


def customers_table(customers: Sequence[ScoredCustomer]) -> str:
    if not customers:
        return "(no customers)"
    rows = [(rank, c.customer_id, c.score) for rank, c in enumerate(customers, start=1)]
    return table(("rank", "customer", "score"), rows)
