"""Item attributes for the snapshot: names, categories, prices, stock flags.

The catalog wins where it states a value. Otherwise the order history supplies the name
(most frequent one, ties alphabetical) and the price (median of positive unit prices;
zero and negative prices are adjustments, not prices). Without a catalog every item is in
stock and has no category. With one, an ordered item the catalog does not list is taken as
discontinued: out of stock, no category (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from basketry.training.catalog import Catalog
from basketry.training.matrices import IndexedLines


@dataclass(frozen=True)
class ItemAttributes:
    names: np.ndarray  # unicode, '' if unknown
    categories: np.ndarray  # int32 index into category_names, -1 = none
    category_names: np.ndarray  # unicode, sorted
    prices: np.ndarray  # float32, NaN if unknown
    in_stock: np.ndarray  # bool
    catalog_items: int = 0
    catalog_items_not_ordered: int = 0
    items_missing_from_catalog: int = 0


def item_attributes(indexed: IndexedLines, catalog: Catalog | None) -> ItemAttributes:
    items = pl.DataFrame({"item_id": indexed.item_ids.tolist()}, schema={"item_id": pl.String})
    # maintain_order: rows must stay in item index order.
    from_orders = items.join(
        _order_facts(indexed.lines), on="item_id", how="left", maintain_order="left"
    )
    if catalog is None:
        return ItemAttributes(
            names=_strings(from_orders["order_name"]),
            categories=np.full(items.height, -1, dtype=np.int32),
            category_names=np.array([], dtype="<U1"),
            prices=_floats(from_orders["order_price"]),
            in_stock=np.ones(items.height, dtype=bool),
        )
    listed = catalog.items.with_columns(pl.lit(True).alias("listed"))
    merged = from_orders.join(listed, on="item_id", how="left", maintain_order="left")
    is_listed = merged["listed"].fill_null(False)
    category = merged["category"]
    category_names = category.drop_nulls().unique().sort()
    ordered = catalog.items["item_id"].is_in(items["item_id"].implode())
    return ItemAttributes(
        names=_strings(merged["name"].fill_null(merged["order_name"])),
        categories=_category_index(category, category_names),
        category_names=_strings(category_names),
        prices=_floats(merged["price"].fill_null(merged["order_price"])),
        in_stock=merged["in_stock"].fill_null(is_listed).to_numpy().astype(bool),
        catalog_items=catalog.items.height,
        catalog_items_not_ordered=int((~ordered).sum()),
        items_missing_from_catalog=int((~is_listed).sum()),
    )


def _order_facts(lines: pl.DataFrame) -> pl.DataFrame:
    names = (
        lines.drop_nulls("item_name")
        .group_by("item_id", "item_name")
        .len()
        .sort(["item_id", "len", "item_name"], descending=[False, True, False])
        .group_by("item_id", maintain_order=True)
        .first()
        .select("item_id", pl.col("item_name").alias("order_name"))
    )
    prices = (
        lines.filter(pl.col("price") > 0)
        .group_by("item_id")
        .agg(pl.col("price").median().alias("order_price"))
    )
    return names.join(prices, on="item_id", how="full", coalesce=True)


def _category_index(category: pl.Series, names: pl.Series) -> np.ndarray:
    position = {name: i for i, name in enumerate(names.to_list())}
    return np.array([position.get(c, -1) for c in category.to_list()], dtype=np.int32)


def _strings(column: pl.Series) -> np.ndarray:
    values = column.fill_null("").to_list()
    return np.array(values, dtype=str) if values else np.array([], dtype="<U1")


def _floats(column: pl.Series) -> np.ndarray:
    return column.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float32)
