"""Bad rows: rows an input file got wrong, and what a run does about them (--on-bad-rows).

A bad row is malformed: a line with the wrong number of fields (found by the reader),
a value that does not parse, an id no request could name, the header repeated inside
the file (order_checks; the catalog has its own checks). It is not a row the business
leaves out on purpose (a cancellation, a guest checkout without a customer id:
cleaning.BUSINESS_DROP_REASONS), which is dropped and counted whatever the policy.

Policy "fail" (the default) refuses the run, naming the file, line, column and value of
the first bad rows and how many there are. "skip" leaves them out, counted by reason like
the other drops, unless more than `max_ratio` of a file's rows are bad: a file that is
mostly junk is the wrong file (or the wrong layout), not a few bad rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from basketry.training.errors import TrainingInputError
from basketry.training.locations import DETAIL, LINE, PROBLEM, ROW, location

log = logging.getLogger("basketry.training")

ON_BAD_ROWS = ("fail", "skip")
BAD_REASON = "bad_reason"  # the column that carries each row's bad-row reason (null: good)
# The reasons of order files, in the order they are tried (the first that applies counts).
BAD_ROW_REASONS: dict[str, str] = {
    "line_too_long": "bad row: line too long",
    "bad_field_count": "bad row: wrong number of fields",
    "repeated_header": "bad row: header line repeated",
    "bad_id": "bad row: id with control characters or too long",
    "bad_quantity": "bad row: missing or unparseable quantity",
    "bad_timestamp": "bad row: missing or unparseable timestamp",
    "bad_price": "bad row: unparseable price",
    "order_conflict": "bad row: order id already given to another customer",
}
MAX_EXAMPLES = 5
MAX_SHOWN_CHARS = 40

Row = dict[str, Any]
Describe = Callable[[str, Row], str]


@dataclass(frozen=True)
class BadRowPolicy:
    """What to do with bad rows: "fail" the run, or "skip" them (at most max_ratio of a file)."""

    on_bad_rows: str = "fail"
    max_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.on_bad_rows not in ON_BAD_ROWS:
            raise ValueError(f"on_bad_rows must be one of {ON_BAD_ROWS}, not {self.on_bad_rows!r}")
        if not 0.0 <= self.max_ratio <= 1.0:
            raise ValueError(f"max_ratio must be within [0, 1], not {self.max_ratio}")


@dataclass(frozen=True)
class BadRows:
    """The bad rows of one file: each row's reason (null if good), counts, first examples."""

    source: str
    rows: int
    reasons: pl.Series
    counts: dict[str, int]
    examples: list[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def find_bad_rows(
    frame: pl.DataFrame, checks: Sequence[tuple[str, pl.Expr]], describe: Describe, source: str
) -> BadRows:
    """Tag the rows of `frame` (with the locations columns) that fail a check.

    The structural problem the reader found comes first, then `checks` in order; a row
    counts under the first reason that applies. `describe(reason, row)` says what is
    wrong with a row (its location is added).
    """
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, failed in reversed(checks):
        reason = pl.when(failed).then(pl.lit(name)).otherwise(reason)
    reason = pl.coalesce(pl.col(PROBLEM), reason)
    tagged = frame.with_columns(reason.alias(BAD_REASON))
    reasons = tagged[BAD_REASON]
    counts = {str(name): int(n) for name, n in reasons.drop_nulls().value_counts().iter_rows()}
    examples = [
        f"{location(source, row[LINE], row[ROW])}: "
        + (row[DETAIL] if row[DETAIL] is not None else describe(row[BAD_REASON], row))
        for row in tagged.filter(pl.col(BAD_REASON).is_not_null())
        .head(MAX_EXAMPLES)
        .iter_rows(named=True)
    ]
    return BadRows(source, frame.height, reasons, counts, examples)


def enforce(policy: BadRowPolicy, found: Sequence[BadRows]) -> None:
    """Refuse the run when the policy says so; else log what is skipped."""
    bad = [rows for rows in found if rows.total]
    if not bad:
        return
    total = sum(rows.total for rows in bad)
    if policy.on_bad_rows == "fail":
        where = bad[0].source if len(bad) == 1 else f"{len(bad)} files"
        read = sum(rows.rows for rows in bad)
        raise TrainingInputError(
            f"{total:,} bad row(s) in {where} (of {read:,} rows): {_listed(bad, total)}. "
            "Fix them, or pass --on-bad-rows skip to leave bad rows out (counted by reason)"
        )
    for rows in bad:
        if rows.total > policy.max_ratio * rows.rows:
            raise TrainingInputError(
                f"{rows.source}: {rows.total:,} of {rows.rows:,} rows are bad "
                f"({rows.total / rows.rows:.0%}), more than --max-bad-rows-ratio "
                f"{policy.max_ratio:g} allows: is it the right file, with the right columns "
                f"and formats? {_listed([rows], rows.total)}"
            )
    log.warning("skipped %s bad row(s): %s", f"{total:,}", _listed(bad, total))


def field_label(field: str, columns: Mapping[str, str]) -> str:
    """A field as messages name it, with the file's column when that is named otherwise."""
    text = field.replace("_", " ")
    column = columns.get(field, field)
    return text if column == field else f"{text} (column {column!r})"


def shown(value: object) -> str:
    """A value quoted for a message, cut short."""
    text = str(value)
    return repr(text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…")


def _listed(found: Sequence[BadRows], total: int) -> str:
    examples = [example for rows in found for example in rows.examples][:MAX_EXAMPLES]
    more = total - len(examples)
    return "; ".join(examples) + (f"; and {more:,} more" if more > 0 else "")
