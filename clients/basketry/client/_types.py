"""The client's plain result and argument types: frozen dataclasses and string enums.

Callers never see protobuf messages; `_convert` translates both ways. Sequence arguments
are stored as tuples so every value here is immutable.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


class Strategy(enum.StrEnum):
    """How to pick items for a customer."""

    BALANCED = "balanced"
    BUY_AGAIN = "buy-again"
    DISCOVER_NEW = "discover-new"


class Reason(enum.StrEnum):
    """Why an item was picked."""

    UNSPECIFIED = "unspecified"
    PERSONALIZED = "personalized"
    BUY_AGAIN = "buy-again"
    POPULAR = "popular"
    BOUGHT_TOGETHER = "bought-together"
    SIMILAR = "similar"


class Fallback(enum.StrEnum):
    """Why an answer fell back to popular items (wholly or in part)."""

    COLD_CUSTOMER = "cold-customer"
    EMPTY_AFTER_FILTERS = "empty-after-filters"
    UNKNOWN_ITEM = "unknown-item"
    # A fallback value this client version does not know (a newer server).
    OTHER = "other"


def parse_strategy(strategy: Strategy | str) -> Strategy:
    """Accepts the enum or its value ("buy-again"); ValueError names the valid values."""
    try:
        return Strategy(strategy)
    except ValueError:
        valid = ", ".join(s.value for s in Strategy)
        raise ValueError(f"unknown strategy {strategy!r} (choose from {valid})") from None


def id_tuple(values: Sequence[str], name: str) -> tuple[str, ...]:
    # A bare string is a Sequence[str] too; iterating it would send one id per character.
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of ids, not a single string")
    return tuple(values)


@dataclass(frozen=True)
class ItemFilter:
    """Restricts which items may be returned; all conditions apply together."""

    exclude_item_ids: Sequence[str] = ()
    only_categories: Sequence[str] = ()
    exclude_categories: Sequence[str] = ()
    in_stock_only: bool = False
    min_price: float | None = None
    max_price: float | None = None

    def __post_init__(self) -> None:
        for name in ("exclude_item_ids", "only_categories", "exclude_categories"):
            object.__setattr__(self, name, id_tuple(getattr(self, name), name))


@dataclass(frozen=True)
class ScoredItem:
    """One recommended item; `score` is comparable within one answer only.

    With `explain`, Recommend answers also carry the item's repeat probability (a buyer
    buys it again in a later order, 0..1) and its typical repurchase cycle in days (0 when
    unknown); both are 0 otherwise.
    """

    item_id: str
    score: float
    reason: Reason
    name: str = ""
    because_item_ids: tuple[str, ...] = ()
    repeat_probability: float = 0.0
    repeat_cycle_days: float = 0.0


@dataclass(frozen=True)
class Recommendation:
    """Picks for one customer, best first. `fallback` is None for a personalised answer."""

    items: tuple[ScoredItem, ...]
    model_version: str
    fallback: Fallback | None = None


@dataclass(frozen=True)
class CustomerRecommendation:
    """One customer's picks from a batch (`recommend_batch`)."""

    customer_id: str
    items: tuple[ScoredItem, ...]
    model_version: str
    fallback: Fallback | None = None


@dataclass(frozen=True)
class BundleItem:
    """An item bought together with the basket, with the numbers behind the pick."""

    item_id: str
    score: float
    confidence: float
    lift: float
    support: float
    co_purchase_count: int
    reason: Reason
    name: str = ""
    because_item_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bundle:
    """Items bought with a basket, best first; basket items are never returned."""

    items: tuple[BundleItem, ...]
    model_version: str
    fallback: Fallback | None = None


@dataclass(frozen=True)
class SimilarItems:
    """Items most like the query item, best first."""

    items: tuple[ScoredItem, ...]
    model_version: str


@dataclass(frozen=True)
class ScoredCustomer:
    """A customer and its similarity (-1..1, higher is more alike)."""

    customer_id: str
    score: float


@dataclass(frozen=True)
class SimilarCustomers:
    """Customers most like the query customer, best first."""

    customers: tuple[ScoredCustomer, ...]
    model_version: str


@dataclass(frozen=True)
class Lookalike:
    """Customers most like a seed audience; `seed_size` counts the known seed customers."""

    customers: tuple[ScoredCustomer, ...]
    model_version: str
    seed_size: int


@dataclass(frozen=True)
class OrderLine:
    """One order line: the item, units bought (> 0) and the unit price if known."""

    item_id: str
    quantity: float
    price: float | None = None


@dataclass(frozen=True)
class Order:
    """One order as it happened; `timestamp` None means the server's clock."""

    order_id: str
    customer_id: str
    lines: Sequence[OrderLine]
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))


@dataclass(frozen=True)
class RecordResult:
    """What `record_orders` did: orders recorded and orders already recorded before."""

    accepted: int
    duplicates: int


@dataclass(frozen=True)
class ModelInfo:
    """What the serving snapshot is."""

    model_version: str
    created_at: datetime | None
    schema_version: int
    counts: dict[str, int] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
