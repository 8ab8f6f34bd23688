"""Reads the optional item catalog: item_id plus any of name, category, price, in_stock.

A row without an item id, with an unparseable price or stock flag, or a malformed line is
a bad row: the run's --on-bad-rows policy decides (basketry.training.bad_rows). An item
listed twice is always refused: which row to believe is not for the job to guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from basketry.training.bad_rows import BadRowPolicy, Row, enforce, find_bad_rows, shown
from basketry.training.errors import TrainingInputError
from basketry.training.locations import LINE, ROW, location
from basketry.training.order_checks import CONTROL_CHARACTERS, MAX_ID_BYTES
from basketry.training.reading import FileInfo, read_table

CATALOG_OPTIONAL = ("name", "category", "price", "in_stock")
CATALOG_KINDS = {
    "item_id": "id",
    "name": "text",
    "category": "text",
    "price": "number",
    "in_stock": "flag",
}
TRUE_WORDS = ("1", "true", "t", "yes", "y")
FALSE_WORDS = ("0", "false", "f", "no", "n")


@dataclass(frozen=True)
class Catalog:
    """One row per item: item_id, name, category, price (Float64), in_stock (Boolean).

    Absent columns are all null; null stock means "not stated" and counts as in stock.
    """

    items: pl.DataFrame
    file: FileInfo


def read_catalog(path: Path, policy: BadRowPolicy | None = None) -> Catalog:
    """The catalog at `path`; bad rows handled as `policy` says (default: refused)."""
    wanted = {"item_id": "item_id", **{name: name for name in CATALOG_OPTIONAL}}
    raw, info = read_table(path, wanted, optional=CATALOG_OPTIONAL, kinds=CATALOG_KINDS)
    for name in CATALOG_OPTIONAL:
        if name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    parsed = raw.with_columns(
        *(_text(name) for name in ("item_id", "name", "category")),
        _text("price").alias("price_text"),
        _text("price").cast(pl.Float64, strict=False).alias("price"),
        _stock_text(raw.schema["in_stock"]).alias("stock_text"),
    ).with_columns(_stock_flag(raw.schema["in_stock"]).alias("in_stock"))
    item = pl.col("item_id")
    checks = [
        ("missing_item_id", item.is_null()),
        ("bad_id", (item.str.len_bytes() > MAX_ID_BYTES) | item.str.contains(CONTROL_CHARACTERS)),
        ("bad_price", pl.col("price_text").is_not_null() & ~_finite(pl.col("price"))),
        ("bad_in_stock", pl.col("stock_text").is_not_null() & pl.col("in_stock").is_null()),
    ]
    bad = find_bad_rows(parsed, checks, _describe, str(path))
    enforce(policy or BadRowPolicy(), [bad])
    kept = parsed.filter(bad.reasons.is_null())
    _check_unique(kept, path)
    items = kept.select("item_id", "name", "category", "price", "in_stock")
    return Catalog(items=items, file=info)


def _describe(reason: str, row: Row) -> str:
    if reason == "missing_item_id":
        return "item_id is empty"
    if reason == "bad_id":
        return f"item_id {shown(row['item_id'])} holds control characters or is too long"
    if reason == "bad_price":
        return f"price {shown(row['price_text'])} is not a number"
    return f"in_stock {shown(row['stock_text'])} is not one of {'/'.join(TRUE_WORDS + FALSE_WORDS)}"


def _check_unique(items: pl.DataFrame, path: Path) -> None:
    again = items.filter(pl.col("item_id").is_duplicated() & ~pl.col("item_id").is_first_distinct())
    if not again.height:
        return
    row = again.row(0, named=True)
    first = items.filter(pl.col("item_id") == row["item_id"]).row(0, named=True)
    others = again["item_id"].n_unique() - 1
    raise TrainingInputError(
        f"{location(str(path), row[LINE], row[ROW])}: item_id {shown(row['item_id'])} listed "
        f"again (first at {location(str(path), first[LINE], first[ROW])})"
        + (f"; {others:,} more item_id(s) listed more than once" if others else "")
    )


def _finite(value: pl.Expr) -> pl.Expr:
    return value.is_finite().fill_null(False)


def _text(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text).alias(name)


def _stock_text(dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return pl.lit(None, dtype=pl.String)
    return _text("in_stock").str.to_lowercase()


def _stock_flag(dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return pl.col("in_stock")
    words = pl.col("stock_text")
    return (
        pl.when(words.is_in(TRUE_WORDS))
        .then(pl.lit(True))
        .when(words.is_in(FALSE_WORDS))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )
