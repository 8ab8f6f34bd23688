"""Request-time item filters turned into a boolean mask over the model's items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from basketry.server.model import ServingModel

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ItemFilter:
    """Which items may be returned; every condition applies. Unknown ids and names match nothing."""

    exclude_item_ids: tuple[str, ...] = ()
    only_categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    in_stock_only: bool = False
    min_price: float | None = None
    max_price: float | None = None


def allowed_items(model: ServingModel, item_filter: ItemFilter) -> BoolArray:
    """A fresh mask (callers may modify it): True for each item the filter lets through."""
    allowed = np.ones(model.n_items, dtype=np.bool_)
    if item_filter.exclude_item_ids:
        allowed[model.item_indices(item_filter.exclude_item_ids)] = False
    if item_filter.only_categories:
        allowed &= np.isin(
            model.item_categories, _category_indices(model, item_filter.only_categories)
        )
    if item_filter.exclude_categories:
        allowed &= ~np.isin(
            model.item_categories, _category_indices(model, item_filter.exclude_categories)
        )
    if item_filter.in_stock_only:
        allowed &= model.item_in_stock
    # NaN compares False, so items without a known price drop out of any price range.
    if item_filter.min_price is not None:
        allowed &= model.item_prices >= item_filter.min_price
    if item_filter.max_price is not None:
        allowed &= model.item_prices <= item_filter.max_price
    return allowed


def _category_indices(model: ServingModel, names: tuple[str, ...]) -> npt.NDArray[np.int32]:
    known = [model.category_index[name] for name in names if name in model.category_index]
    return np.asarray(known, dtype=np.int32)
