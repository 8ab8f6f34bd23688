"""Plain request and answer types of the serving functions (no protobuf in here).

Items and customers are referred to by their row index in the serving model; the
servicer translates ids to indices on the way in and back on the way out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from basketry.server.filters import ItemFilter


class Strategy(enum.Enum):
    BALANCED = "balanced"
    BUY_AGAIN = "buy_again"
    DISCOVER_NEW = "discover_new"


class Reason(enum.Enum):
    PERSONALIZED = "personalized"
    BUY_AGAIN = "buy_again"
    POPULAR = "popular"
    BOUGHT_TOGETHER = "bought_together"
    SIMILAR = "similar"


class Fallback(enum.Enum):
    NONE = "none"
    COLD_CUSTOMER = "cold_customer"
    EMPTY_AFTER_FILTERS = "empty_after_filters"
    UNKNOWN_ITEM = "unknown_item"


@dataclass(frozen=True)
class RecommendQuery:
    """What one customer's picks must satisfy (the batch shares one query per customer)."""

    customer_id: str
    limit: int
    item_filter: ItemFilter = field(default_factory=ItemFilter)
    context_item_ids: tuple[str, ...] = ()
    strategy: Strategy = Strategy.BALANCED
    explain: bool = False


@dataclass(frozen=True)
class Pick:
    """One picked item: its index, score, reason and, when explained, the items behind it
    and the item's repurchase facts (0 when unknown or not explained)."""

    item: int
    score: float
    reason: Reason
    because: tuple[int, ...] = ()
    repeat_probability: float = 0.0
    repeat_cycle_days: float = 0.0


@dataclass(frozen=True)
class Recommendation:
    picks: list[Pick]
    fallback: Fallback


@dataclass(frozen=True)
class BundleQuery:
    item_ids: tuple[str, ...]
    limit: int
    item_filter: ItemFilter = field(default_factory=ItemFilter)


@dataclass(frozen=True)
class BundlePick:
    """An item bought with the basket, with the rule statistics of its strongest basket item."""

    item: int
    score: float
    reason: Reason
    confidence: float = 0.0
    lift: float = 0.0
    support: float = 0.0
    co_purchase_count: int = 0
    because: tuple[int, ...] = ()


@dataclass(frozen=True)
class BundleAnswer:
    picks: list[BundlePick]
    fallback: Fallback


@dataclass(frozen=True)
class ScoredIndex:
    """A customer or item index with a similarity score."""

    index: int
    score: float


@dataclass(frozen=True)
class LookalikeAnswer:
    customers: list[ScoredIndex]
    seed_size: int
