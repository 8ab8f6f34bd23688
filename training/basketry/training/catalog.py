"""Reads the optional item catalog: item_id plus any of name, category, price, in_stock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from basketry.training.errors import TrainingInputError
from basketry.training.reading import FileInfo, read_table

CATALOG_OPTIONAL = ("name", "category", "price", "in_stock")
TRUE_WORDS = ("1", "true", "t", "yes", "y")
FALSE_WORDS = ("0", "false", "f", "no", "n")


@dataclass(frozen=True)
class Catalog:
    """One row per item: item_id, name, category, price (Float64), in_stock (Boolean).

    Absent columns are all null; null stock means "not stated" and counts as in stock.
    """

    items: pl.DataFrame
    file: FileInfo


def read_catalog(path: Path) -> Catalog:
    wanted = {"item_id": "item_id", **{name: name for name in CATALOG_OPTIONAL}}
    raw, info = read_table(path, wanted, optional=CATALOG_OPTIONAL)
    for name in CATALOG_OPTIONAL:
        if name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    text = {name: _text(raw[name]) for name in ("item_id", "name", "category")}
    items = pl.DataFrame(
        {
            **text,
            "price": _prices(raw["price"], path),
            "in_stock": _stock_flags(raw["in_stock"], path),
        }
    )
    if items["item_id"].null_count():
        raise TrainingInputError(f"{path}: {items['item_id'].null_count()} row(s) without item_id")
    duplicates = items.filter(pl.col("item_id").is_duplicated())["item_id"].unique().sort()
    if duplicates.len():
        raise TrainingInputError(
            f"{path}: item_id listed more than once: {', '.join(duplicates.head(5).to_list())}"
            + (" …" if duplicates.len() > 5 else "")
        )
    return Catalog(items=items, file=info)


def _text(column: pl.Series) -> pl.Series:
    text = column.cast(pl.String).str.strip_chars()
    return pl.select(pl.when(text != "").then(text)).to_series().alias(column.name)


def _prices(column: pl.Series, path: Path) -> pl.Series:
    text = _text(column)
    prices = text.cast(pl.Float64, strict=False)
    bad = text.filter(text.is_not_null() & (prices.is_null() | ~prices.is_finite()))
    if bad.len():
        raise TrainingInputError(f"{path}: price {bad[0]!r} is not a number")
    return prices


def _stock_flags(column: pl.Series, path: Path) -> pl.Series:
    if column.dtype == pl.Boolean:
        return column
    text = _text(column).str.to_lowercase()
    known = text.is_in(TRUE_WORDS + FALSE_WORDS)
    bad = text.filter(text.is_not_null() & ~known)
    if bad.len():
        raise TrainingInputError(
            f"{path}: in_stock {bad[0]!r} is not one of {'/'.join(TRUE_WORDS + FALSE_WORDS)}"
        )
    return pl.select(
        pl.when(text.is_null()).then(None).otherwise(text.is_in(TRUE_WORDS))
    ).to_series()
