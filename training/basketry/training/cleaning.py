"""Parses raw order columns into typed values and drops unusable rows, counting each reason.

Every dropped row is counted under exactly one reason. Bad rows (bad_rows.BAD_ROW_REASONS,
tagged before cleaning) come first; then the first of BUSINESS_DROP_REASONS that applies,
in that order (so a cancelled line without a customer counts as a cancellation).
DROP_REASONS lists both. Timestamps without a zone are taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from basketry.training.bad_rows import BAD_REASON, BAD_ROW_REASONS
from basketry.training.columns import InputFormat
from basketry.training.errors import TrainingInputError
from basketry.training.locations import LINE, ROW, location

# Rows the business leaves out on purpose: dropped whatever --on-bad-rows says.
BUSINESS_DROP_REASONS: dict[str, str] = {
    "missing_order_id": "missing order id",
    "missing_item_id": "missing item id",
    "cancellation": "cancellation (order id prefix)",
    "missing_customer": "missing customer id",
    "non_positive_quantity": "quantity <= 0",
    "non_product": "non-product item code",
}
DROP_REASONS: dict[str, str] = BUSINESS_DROP_REASONS | BAD_ROW_REASONS

TYPED_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "customer_id": pl.String(),
    "item_id": pl.String(),
    "quantity": pl.Float64(),
    "ts": pl.Int64(),
    "price": pl.Float64(),
    "item_name": pl.String(),
}


@dataclass(frozen=True)
class CleanOrders:
    """Usable order lines (TYPED_SCHEMA columns) and what was dropped on the way."""

    lines: pl.DataFrame
    rows_read: int
    dropped: dict[str, int]

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())


def parse_fields(raw: pl.DataFrame, fmt: InputFormat, *, source: str = "") -> pl.DataFrame:
    """Canonical raw columns -> TYPED_SCHEMA; unparseable values become null.

    TrainingInputError when not one timestamp parses: the format is wrong, not the rows.
    """
    customer = _text("customer_id")
    if fmt.customer_ids_as_floats:
        customer = customer.str.replace(r"^(\d+)\.0*$", "${1}")
    optional = {
        name: expr if name in raw.columns else pl.lit(None)
        for name, expr in (("price", _number("price")), ("item_name", _text("item_name")))
    }
    timestamp = _unix_seconds(raw.schema["timestamp"], fmt.timestamp_format)
    try:
        typed = raw.select(
            order_id=_text("order_id"),
            customer_id=customer,
            item_id=_text("item_id"),
            quantity=_number("quantity"),
            ts=timestamp,
            **optional,
        )
    except pl.exceptions.PolarsError as exc:
        raise _timestamp_error(raw, fmt, source) from exc
    if typed["ts"].null_count() == typed.height and _given(raw["timestamp"]).any():
        # Not one value parsed: the format is wrong, not the data; say so instead of
        # calling every row bad.
        raise _timestamp_error(raw, fmt, source)
    return typed.cast(TYPED_SCHEMA)  # type: ignore[arg-type]


def _given(values: pl.Series) -> pl.Series:
    return values.cast(pl.String).str.strip_chars() != ""


def _timestamp_error(raw: pl.DataFrame, fmt: InputFormat, source: str) -> TrainingInputError:
    given = raw.filter(_given(raw["timestamp"])).head(1)
    where, sample = "", ""
    if given.height:
        sample = str(given["timestamp"][0])
        if source and LINE in given.columns:
            where = location(source, given[LINE][0], given[ROW][0]) + ": "
    return TrainingInputError(
        f"{where}cannot parse timestamps like {sample!r} "
        f"(format {fmt.timestamp_format or 'inferred'}); pass --timestamp-format"
    )


def clean(
    typed: pl.DataFrame, *, exclude_items_regex: str | None, cancellation_prefix: str
) -> CleanOrders:
    """Drop unusable lines from a TYPED_SCHEMA frame, counting each reason.

    A BAD_REASON column (bad-row reasons, null for good rows) is honoured when present:
    those rows count under it. Rows without a parsed quantity or timestamp never pass.
    """
    reason = _drop_reason(exclude_items_regex, cancellation_prefix)
    if BAD_REASON in typed.columns:
        reason = pl.coalesce(pl.col(BAD_REASON), reason)
    tagged = typed.with_columns(reason.alias("drop_reason"))
    counts = dict(tagged["drop_reason"].drop_nulls().value_counts().iter_rows())
    dropped = {name: int(counts.get(name, 0)) for name in DROP_REASONS}
    lines = tagged.filter(pl.col("drop_reason").is_null()).select(list(TYPED_SCHEMA))
    return CleanOrders(lines=lines, rows_read=typed.height, dropped=dropped)


def _drop_reason(exclude_items_regex: str | None, cancellation_prefix: str) -> pl.Expr:
    order, item = pl.col("order_id"), pl.col("item_id")
    is_cancellation = (
        order.str.starts_with(cancellation_prefix) if cancellation_prefix else pl.lit(False)
    )
    is_non_product = (
        item.str.contains(_full_match(exclude_items_regex))
        if exclude_items_regex
        else pl.lit(False)
    )
    conditions = {
        # Unparsed values are bad rows (tagged before cleaning); never let one through.
        "bad_quantity": pl.col("quantity").is_null(),
        "bad_timestamp": pl.col("ts").is_null(),
        "missing_order_id": order.is_null(),
        "missing_item_id": item.is_null(),
        "cancellation": is_cancellation,
        "missing_customer": pl.col("customer_id").is_null(),
        "non_positive_quantity": pl.col("quantity") <= 0,
        "non_product": is_non_product,
    }
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    # Built from the last reason backwards so the first matching reason wins.
    for name, condition in reversed(conditions.items()):
        expr = pl.when(condition).then(pl.lit(name)).otherwise(expr)
    return expr


def _full_match(pattern: str) -> str:
    return f"^(?:{pattern})$"


def check_regex(pattern: str) -> None:
    """Refuse a pattern the regex engine cannot compile, with a clear message."""
    try:
        pl.Series([""]).str.contains(_full_match(pattern))
    except pl.exceptions.PolarsError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        reason = next((line for line in lines if line.startswith("error:")), lines[0])
        raise TrainingInputError(f"invalid --exclude-items-regex {pattern!r}: {reason}") from exc


def _text(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


def _number(name: str) -> pl.Expr:
    value = pl.col(name).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _unix_seconds(dtype: pl.DataType, timestamp_format: str | None) -> pl.Expr:
    column = pl.col("timestamp")
    if isinstance(dtype, pl.Datetime):
        return _epoch(column, dtype.time_zone)
    if dtype == pl.Date:
        return _epoch(column.cast(pl.Datetime), None)
    if dtype.is_integer() or timestamp_format == "unix":
        return column.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    text = _text("timestamp")
    if timestamp_format is None:
        return _epoch(text.str.to_datetime(strict=False, time_zone="UTC"), "UTC")
    return _epoch(text.str.strptime(pl.Datetime, timestamp_format, strict=False), None)


def _epoch(column: pl.Expr, time_zone: str | None) -> pl.Expr:
    if time_zone is not None:
        column = column.dt.convert_time_zone("UTC")
    return column.dt.epoch("s")
