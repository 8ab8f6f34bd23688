"""The server's rules the fake client imitates: argument checks, filters, merging."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from basketry.client._errors import FieldViolation, InvalidArgument
from basketry.client._types import (
    BundleItem,
    ItemFilter,
    Order,
    Reason,
    ScoredCustomer,
    ScoredItem,
    Strategy,
)

MAX_ID_BYTES = 256
MAX_LINE_QUANTITY = 1e9
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class CatalogItem:
    """What the fake knows about an item, for names and filters."""

    name: str = ""
    category: str = ""
    price: float | None = None
    in_stock: bool = True


class _HasItemId(Protocol):
    @property
    def item_id(self) -> str: ...


Item = TypeVar("Item", bound=_HasItemId)
T = TypeVar("T")


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field}: {description}", field_violations=(FieldViolation(field, description),)
    )


def check_customer_id(value: str, field: str) -> None:
    """Ids (customer or item) must be 1..256 bytes of UTF-8, not blank and without control
    characters, as the server checks them (basketry.server.requests)."""
    if not value:
        raise invalid(field, "must not be empty")
    if len(value.encode()) > MAX_ID_BYTES:
        raise invalid(field, f"must be at most {MAX_ID_BYTES} bytes")
    if value.isspace():
        raise invalid(field, "is blank (only whitespace)")
    control = _CONTROL_CHARACTER.search(value)
    if control is not None:
        raise invalid(
            field,
            f"holds a control character (U+{ord(control.group()):04X} at position "
            f"{control.start()})",
        )


def check_limit(limit: int, maximum: int, default: int) -> int:
    if not 0 <= limit <= maximum:
        raise invalid("limit", f"must be 0..{maximum} (0 means {default}), got {limit}")
    return limit or default


def check_count(values: Sequence[str], field: str, maximum: int) -> None:
    if not 1 <= len(values) <= maximum:
        raise invalid(field, f"must hold 1..{maximum} ids, got {len(values)}")


def check_seeds(seed_customers: set[str], seed_items: Sequence[str]) -> None:
    if not seed_customers and not seed_items:
        raise invalid("seed_customer_ids", "give at least one seed customer or seed item")


def check_orders(orders: Sequence[Order]) -> None:
    if not 1 <= len(orders) <= 1000:
        raise invalid("orders", f"must hold 1..1000 orders, got {len(orders)}")
    for index, order in enumerate(orders):
        check_customer_id(order.order_id, f"orders[{index}].order_id")
        check_customer_id(order.customer_id, f"orders[{index}].customer_id")
        if not 1 <= len(order.lines) <= 1000:
            raise invalid(f"orders[{index}].lines", "must hold 1..1000 lines")
        for number, line in enumerate(order.lines):
            check_customer_id(line.item_id, f"orders[{index}].lines[{number}].item_id")
            if not (math.isfinite(line.quantity) and 0 < line.quantity <= MAX_LINE_QUANTITY):
                raise invalid(
                    f"orders[{index}].lines[{number}].quantity",
                    f"must be a number > 0 and <= {MAX_LINE_QUANTITY:,.0f}",
                )


def rank_score(rank: int) -> float:
    """Scores for answers configured as plain ids: descending with the given order."""
    return 1.0 / (rank + 1)


def as_tuple(values: Sequence[T], name: str) -> tuple[T, ...]:
    # A bare string is a Sequence too; iterating it would configure one id per character.
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence, not a single string")
    return tuple(values)


def scored_customers(customers: Sequence[ScoredCustomer | str]) -> tuple[ScoredCustomer, ...]:
    return tuple(
        c if isinstance(c, ScoredCustomer) else ScoredCustomer(c, rank_score(rank))
        for rank, c in enumerate(as_tuple(customers, "customers"))
    )


def by_strategy(picks: Sequence[ScoredItem], strategy: Strategy) -> list[ScoredItem]:
    if strategy is Strategy.BUY_AGAIN:
        return [item for item in picks if item.reason is Reason.BUY_AGAIN]
    if strategy is Strategy.DISCOVER_NEW:
        return [item for item in picks if item.reason is not Reason.BUY_AGAIN]
    return list(picks)


def allowed(
    items: Iterable[Item],
    item_filter: ItemFilter | None,
    never: Sequence[str],
    catalog: Mapping[str, CatalogItem],
) -> list[Item]:
    """The items that pass the filter and are not in `never` (context or basket items)."""
    excluded = set(never)
    if item_filter is not None:
        excluded.update(item_filter.exclude_item_ids)
    return [
        item
        for item in items
        if item.item_id not in excluded
        and (item_filter is None or _passes(catalog.get(item.item_id, CatalogItem()), item_filter))
    ]


def merge_bundles(bundles: Sequence[Sequence[BundleItem]]) -> list[BundleItem]:
    """Sums each partner's score over the basket items, as the server does."""
    merged: dict[str, BundleItem] = {}
    for bundle in bundles:
        for item in bundle:
            seen = merged.get(item.item_id)
            if seen is None:
                merged[item.item_id] = item
            else:
                because = seen.because_item_ids + tuple(
                    b for b in item.because_item_ids if b not in seen.because_item_ids
                )
                merged[item.item_id] = replace(
                    seen, score=seen.score + item.score, because_item_ids=because
                )
    return sorted(merged.values(), key=lambda item: -item.score)


def finish(items: Sequence[ScoredItem], explain: bool) -> tuple[ScoredItem, ...]:
    """Drops the explanations nobody asked for, as the server leaves them empty."""
    if explain:
        return tuple(items)
    return tuple(
        replace(item, because_item_ids=(), repeat_probability=0.0, repeat_cycle_days=0.0)
        for item in items
    )


def _passes(item: CatalogItem, item_filter: ItemFilter) -> bool:
    if item_filter.only_categories and item.category not in item_filter.only_categories:
        return False
    if item.category and item.category in item_filter.exclude_categories:
        return False
    if item_filter.in_stock_only and not item.in_stock:
        return False
    # Like the server, a price bound excludes items whose price is unknown.
    if item_filter.min_price is not None and not (
        item.price is not None and item.price >= item_filter.min_price
    ):
        return False
    return item_filter.max_price is None or (
        item.price is not None and item.price <= item_filter.max_price
    )
