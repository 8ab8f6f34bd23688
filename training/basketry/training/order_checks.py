"""Which rows of an order file are bad (see bad_rows), and what is wrong with each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from basketry.training.bad_rows import (
    BAD_REASON,
    BadRows,
    Describe,
    Row,
    field_label,
    find_bad_rows,
    shown,
)
from basketry.training.errors import TrainingInputError
from basketry.training.locations import LINE, LOCATION_COLUMNS, PROBLEM, ROW, location

IDS = ("order_id", "customer_id", "item_id")
MAX_ID_BYTES = 256  # the server refuses longer ids: no request could name such a row
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
USABLE = "_usable"  # no other bad-row reason, and an order and a customer id
FIRST = "_first_customer"  # the customer of the order's first usable line
RAW_FIELD = {"bad_quantity": "quantity", "bad_timestamp": "timestamp", "bad_price": "price"}


def order_bad_rows(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    *,
    columns: Mapping[str, str],
    source: str,
    timestamp_format: str | None,
) -> BadRows:
    """The bad rows of one order file: `raw` as read (canonical columns present in it plus
    the locations), `typed` as cleaning.parse_fields made it; `columns` maps the canonical
    names in `raw` to the file's column names (for messages)."""
    present = {name: column for name, column in columns.items() if name in raw.columns}
    both = pl.concat(
        [
            typed,
            raw.select(pl.col(name).alias(f"raw_{name}") for name in present),
            raw.select(LOCATION_COLUMNS),
        ],
        how="horizontal",
    )
    raw_text = {name: pl.col(f"raw_{name}").cast(pl.String) for name in present}
    checks = [
        ("repeated_header", pl.all_horizontal(raw_text[n] == c for n, c in present.items())),
        ("bad_id", pl.any_horizontal(_bad_id(pl.col(name)) for name in IDS)),
        ("bad_quantity", pl.col("quantity").is_null()),
        ("bad_timestamp", pl.col("ts").is_null()),
    ]
    if "price" in present:
        given = raw_text["price"].str.strip_chars() != ""
        checks.append(("bad_price", given & pl.col("price").is_null()))
    # An order's customer is the one on its first usable line; a later line giving the order
    # to someone else contradicts it (the model has one customer per order).
    usable = pl.col(PROBLEM).is_null() & ~pl.any_horizontal(failed for _, failed in checks)
    usable &= pl.col("order_id").is_not_null() & pl.col("customer_id").is_not_null()
    both = both.with_columns(usable.alias(USABLE))
    if _may_have_conflicts(both):
        customer = pl.when(USABLE).then(pl.col("customer_id"))
        both = both.with_columns(customer.drop_nulls().first().over("order_id").alias(FIRST))
        checks.append(("order_conflict", pl.col(USABLE) & (pl.col("customer_id") != pl.col(FIRST))))
    return find_bad_rows(both, checks, _describer(present, timestamp_format), source)


def _may_have_conflicts(both: pl.DataFrame) -> bool:
    """Whether some order has usable lines of two customers (on hashes: a fast, rarely
    false "yes"; the exact check runs only then)."""
    hashed = both.select(
        pl.col("order_id").hash().alias("order"),
        pl.when(USABLE).then(pl.col("customer_id").hash()).alias("customer"),
    )
    customer = pl.col("customer")
    mixed = hashed.group_by("order").agg((customer.min() != customer.max()).alias("mixed"))
    return bool(mixed["mixed"].any())


def check_orders_across_files(frames: Sequence[pl.DataFrame], sources: Sequence[str]) -> None:
    """TrainingInputError when files give one order id to different customers.

    `frames` are the files' parsed rows with their BAD_REASON and location columns; within
    a file such rows are bad rows (order_conflict), across files the ids themselves clash
    (e.g. each file numbering its orders from 1).
    """
    if len(frames) < 2:
        return
    good = pl.col(BAD_REASON).is_null() & pl.col("customer_id").is_not_null()
    firsts = pl.concat(
        frame.filter(good & pl.col("order_id").is_not_null())
        .group_by("order_id", maintain_order=True)
        .agg(pl.col("customer_id").first(), pl.col(LINE).first(), pl.col(ROW).first())
        .with_columns(pl.lit(index, dtype=pl.Int32).alias("file"))
        for index, frame in enumerate(frames)
    )
    clashing = firsts.filter(pl.col("customer_id").n_unique().over("order_id") > 1)
    if not clashing.height:
        return
    order = clashing["order_id"][0]
    one, other = (
        clashing.filter(pl.col("order_id") == order).unique("customer_id").head(2).rows(named=True)
    )
    orders = clashing["order_id"].n_unique()
    raise TrainingInputError(
        f"{_at(one, sources)}: order {shown(order)} is customer {shown(one['customer_id'])}, "
        f"but customer {shown(other['customer_id'])} at {_at(other, sources)}"
        + (f" ({orders:,} order ids clash)" if orders > 1 else "")
        + "; order ids must be unique across the order files"
    )


def _at(row: Row, sources: Sequence[str]) -> str:
    return location(sources[row["file"]], row[LINE], row[ROW])


def _describer(columns: Mapping[str, str], timestamp_format: str | None) -> Describe:
    problems = {
        "bad_quantity": "is not a number",
        "bad_timestamp": f"does not match {timestamp_format!r}"
        if timestamp_format
        else "is not a date-time (format inferred; see --timestamp-format)",
        "bad_price": "is not a number",
    }

    def describe(reason: str, row: Row) -> str:
        if reason == "repeated_header":
            return "the header line again (files joined with their headers?)"
        if reason == "bad_id":
            return _describe_id(row, columns)
        if reason == "order_conflict":
            return (
                f"order {shown(row['order_id'])} is customer {shown(row[FIRST])} on an "
                f"earlier line, customer {shown(row['customer_id'])} here (an order has one "
                "customer)"
            )
        field = RAW_FIELD[reason]
        value = row.get(f"raw_{field}")
        label = field_label(field, columns)
        if value is None or str(value).strip() == "":
            return f"{label} is empty"
        return f"{label} {shown(value)} {problems[reason]}"

    return describe


def _describe_id(row: Row, columns: Mapping[str, str]) -> str:
    for name in IDS:
        value = row.get(name)
        if value is None:
            continue
        size = len(str(value).encode("utf-8"))
        if size > MAX_ID_BYTES:
            return f"{field_label(name, columns)} is {size:,} bytes long (at most {MAX_ID_BYTES})"
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in str(value)):
            return f"{field_label(name, columns)} {shown(value)} holds control characters"
    return "an id is malformed"


def _bad_id(column: pl.Expr) -> pl.Expr:
    return column.is_not_null() & (
        (column.str.len_bytes() > MAX_ID_BYTES) | column.str.contains(CONTROL_CHARACTERS)
    )
