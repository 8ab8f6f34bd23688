"""Protobuf requests checked and turned into domain queries.

Every problem in a request is collected and reported at once as one InvalidArgument whose
field violations name the fields (e.g. "filter.exclude_item_ids[3]").

Ids (customer, item and order ids, and category names) are 1..MAX_ID_BYTES bytes of UTF-8,
not blank, with no control character (U+0000-U+001F, U+007F-U+009F): an id holding a NUL
or a newline is a caller's bug. Leading or trailing spaces are kept as sent; training strips
them from the order history, so such an id is simply unknown. Filter prices are finite and
>= 0; a recorded line's quantity is finite, > 0 and at most MAX_LINE_QUANTITY. The limits
below are the README's "Limits" table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from basketry.server.domain import BundleQuery, RecommendQuery, Strategy
from basketry.server.errors import FieldViolation, InvalidArgument
from basketry.server.filters import ItemFilter
from basketry.server.orders import RecordedLine, RecordedOrder
from basketry.v1 import recommender_pb2 as pb

MAX_ID_BYTES = 256
MAX_CAMPAIGN_BYTES = 128
DEFAULT_LIMIT = 10
DEFAULT_LOOKALIKE_LIMIT = 100
MAX_ITEM_LIMIT = 500
MAX_CUSTOMER_LIMIT = 10_000
MAX_BATCH_CUSTOMERS = 10_000
MAX_BASKET_ITEMS = 100
MAX_EXCLUDED_ITEMS = 1_000
MAX_CATEGORIES = 100
MAX_SEED_CUSTOMERS = 10_000
MAX_SEED_ITEMS = 1_000
MAX_RECORDED_ORDERS = 1_000
MAX_ORDER_LINES = 1_000
# Far above any real order line, and small enough that summed quantities stay finite.
MAX_LINE_QUANTITY = 1e9
# An order dated in the future would never expire (no snapshot ever includes it): allow
# only clock skew.
MAX_FUTURE_SECONDS = 86_400
# A request with thousands of bad ids gets the first few named, not a megabyte of details.
MAX_REPORTED_VIOLATIONS = 20

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")

STRATEGIES = {
    pb.STRATEGY_UNSPECIFIED: Strategy.BALANCED,
    pb.STRATEGY_BUY_AGAIN: Strategy.BUY_AGAIN,
    pb.STRATEGY_DISCOVER_NEW: Strategy.DISCOVER_NEW,
}


@dataclass(frozen=True)
class BatchQuery:
    customer_ids: tuple[str, ...]
    template: RecommendQuery  # everything but the customer id
    campaign: str


@dataclass(frozen=True)
class LookalikeQuery:
    seed_customer_ids: tuple[str, ...]
    seed_item_ids: tuple[str, ...]
    limit: int


class _Checker:
    """Collects field violations while reading a request."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def done(self) -> None:
        if self.violations:
            raise invalid_argument(self.violations)

    def one_id(self, field: str, value: str) -> str:
        if not value:
            self.add(field, "is required")
        elif len(value.encode("utf-8")) > MAX_ID_BYTES:
            self.add(field, f"is longer than {MAX_ID_BYTES} bytes")
        elif value.isspace():
            self.add(field, "is blank (only whitespace)")
        else:
            control = _CONTROL_CHARACTER.search(value)
            if control is not None:
                self.add(
                    field,
                    f"holds a control character (U+{ord(control.group()):04X} at position "
                    f"{control.start()})",
                )
        return value

    def ids(
        self,
        field: str,
        values: Sequence[str],
        *,
        at_most: int,
        required: bool = False,
        noun: str = "ids",
    ) -> tuple[str, ...]:
        """Each value an id (see the module's docstring); at most `at_most` of them."""
        if required and not values:
            self.add(field, "needs at least one id")
        if len(values) > at_most:
            self.add(field, f"holds {len(values)} {noun}; at most {at_most} are allowed")
            return ()
        for position, value in enumerate(values):
            self.one_id(f"{field}[{position}]", value)
        return tuple(values)

    def categories(self, field: str, values: Sequence[str]) -> tuple[str, ...]:
        """Category names follow the id rules."""
        return self.ids(field, values, at_most=MAX_CATEGORIES, noun="categories")

    def price(self, field: str, message: pb.ItemFilter, name: str) -> float | None:
        """The filter's price bound `name`; None when unset (or refused)."""
        if not message.HasField(name):
            return None
        price: float = getattr(message, name)
        if math.isfinite(price) and price >= 0:
            return price
        self.add(f"{field}.{name}", f"must be a finite number >= 0, got {price}")
        return None

    def campaign(self, field: str, value: str) -> str:
        """Empty means no campaign; a name is printable text of at most MAX_CAMPAIGN_BYTES."""
        if not value:
            return value
        if not value.strip():
            self.add(field, "must not be blank (leave it empty for no campaign)")
        elif len(value.encode("utf-8")) > MAX_CAMPAIGN_BYTES:
            self.add(field, f"is longer than {MAX_CAMPAIGN_BYTES} bytes")
        elif not value.isprintable():
            self.add(field, "must be printable text (no control characters)")
        return value

    def limit(self, field: str, value: int, *, default: int, maximum: int) -> int:
        if value < 0 or value > maximum:
            self.add(field, f"must be between 1 and {maximum} (0 means {default}), got {value}")
        return value or default

    def strategy(self, field: str, value: int) -> Strategy:
        strategy = STRATEGIES.get(value)  # type: ignore[call-overload]
        if strategy is None:
            self.add(field, f"unknown strategy {value}")
            return Strategy.BALANCED
        result: Strategy = strategy
        return result

    def item_filter(self, field: str, message: pb.ItemFilter) -> ItemFilter:
        min_price = self.price(field, message, "min_price")
        max_price = self.price(field, message, "max_price")
        if min_price is not None and max_price is not None and min_price > max_price:
            self.add(f"{field}.min_price", f"{min_price} is greater than max_price {max_price}")
        return ItemFilter(
            exclude_item_ids=self.ids(
                f"{field}.exclude_item_ids", message.exclude_item_ids, at_most=MAX_EXCLUDED_ITEMS
            ),
            only_categories=self.categories(f"{field}.only_categories", message.only_categories),
            exclude_categories=self.categories(
                f"{field}.exclude_categories", message.exclude_categories
            ),
            in_stock_only=message.in_stock_only,
            min_price=min_price,
            max_price=max_price,
        )


def recommend_query(request: pb.RecommendRequest) -> RecommendQuery:
    check = _Checker()
    query = RecommendQuery(
        customer_id=check.one_id("customer_id", request.customer_id),
        limit=check.limit("limit", request.limit, default=DEFAULT_LIMIT, maximum=MAX_ITEM_LIMIT),
        item_filter=check.item_filter("filter", request.filter),
        context_item_ids=check.ids(
            "context_item_ids", request.context_item_ids, at_most=MAX_BASKET_ITEMS
        ),
        strategy=check.strategy("strategy", request.strategy),
        explain=request.explain,
    )
    check.done()
    return query


def batch_query(request: pb.RecommendBatchRequest) -> BatchQuery:
    check = _Checker()
    query = BatchQuery(
        customer_ids=check.ids(
            "customer_ids", request.customer_ids, at_most=MAX_BATCH_CUSTOMERS, required=True
        ),
        template=RecommendQuery(
            customer_id="",
            limit=check.limit(
                "limit", request.limit, default=DEFAULT_LIMIT, maximum=MAX_ITEM_LIMIT
            ),
            item_filter=check.item_filter("filter", request.filter),
            strategy=check.strategy("strategy", request.strategy),
            explain=request.explain,
        ),
        campaign=check.campaign("campaign", request.campaign),
    )
    check.done()
    return query


def bundle_query(request: pb.BundleRequest) -> BundleQuery:
    check = _Checker()
    query = BundleQuery(
        item_ids=check.ids("item_ids", request.item_ids, at_most=MAX_BASKET_ITEMS, required=True),
        limit=check.limit("limit", request.limit, default=DEFAULT_LIMIT, maximum=MAX_ITEM_LIMIT),
        item_filter=check.item_filter("filter", request.filter),
    )
    check.done()
    return query


def similar_items_query(request: pb.SimilarItemsRequest) -> tuple[str, int, ItemFilter]:
    check = _Checker()
    item_id = check.one_id("item_id", request.item_id)
    limit = check.limit("limit", request.limit, default=DEFAULT_LIMIT, maximum=MAX_ITEM_LIMIT)
    item_filter = check.item_filter("filter", request.filter)
    check.done()
    return item_id, limit, item_filter


def similar_customers_query(request: pb.SimilarCustomersRequest) -> tuple[str, int]:
    check = _Checker()
    customer_id = check.one_id("customer_id", request.customer_id)
    limit = check.limit("limit", request.limit, default=DEFAULT_LIMIT, maximum=MAX_CUSTOMER_LIMIT)
    check.done()
    return customer_id, limit


def lookalike_query(request: pb.LookalikeRequest) -> LookalikeQuery:
    check = _Checker()
    query = LookalikeQuery(
        seed_customer_ids=check.ids(
            "seed_customer_ids", request.seed_customer_ids, at_most=MAX_SEED_CUSTOMERS
        ),
        seed_item_ids=check.ids("seed_item_ids", request.seed_item_ids, at_most=MAX_SEED_ITEMS),
        limit=check.limit(
            "limit", request.limit, default=DEFAULT_LOOKALIKE_LIMIT, maximum=MAX_CUSTOMER_LIMIT
        ),
    )
    if not request.seed_customer_ids and not request.seed_item_ids:
        check.add("seed_customer_ids", "give at least one seed customer or seed item")
    check.done()
    return query


def recorded_orders(request: pb.RecordOrdersRequest, now: int) -> tuple[RecordedOrder, ...]:
    """The request's orders; an order without a timestamp is dated `now` (unix seconds)."""
    check = _Checker()
    if not request.orders:
        check.add("orders", "needs at least one order")
    if len(request.orders) > MAX_RECORDED_ORDERS:
        check.add(
            "orders",
            f"holds {len(request.orders)} orders; at most {MAX_RECORDED_ORDERS} per call",
        )
        check.done()
    orders = tuple(
        _order(check, f"orders[{position}]", message, now)
        for position, message in enumerate(request.orders)
    )
    check.done()
    return orders


def _order(check: _Checker, field: str, message: pb.Order, now: int) -> RecordedOrder:
    order_id = check.one_id(f"{field}.order_id", message.order_id)
    customer_id = check.one_id(f"{field}.customer_id", message.customer_id)
    if not message.lines:
        check.add(f"{field}.lines", "needs at least one line")
    elif len(message.lines) > MAX_ORDER_LINES:
        check.add(f"{field}.lines", f"holds {len(message.lines)} lines; at most {MAX_ORDER_LINES}")
    lines = tuple(
        _line(check, f"{field}.lines[{position}]", line)
        for position, line in enumerate(message.lines[:MAX_ORDER_LINES])
    )
    timestamp = now
    if message.HasField("timestamp"):
        timestamp = message.timestamp.seconds
        if timestamp < 0 or not 0 <= message.timestamp.nanos <= 999_999_999:
            check.add(
                f"{field}.timestamp",
                "must be a valid time after 1970-01-01 (seconds >= 0, nanos 0..999,999,999)",
            )
        elif timestamp > now + MAX_FUTURE_SECONDS:
            check.add(
                f"{field}.timestamp",
                f"is {(timestamp - now) / 86_400:.1f} days after the server's clock; "
                "orders are recorded as they happen",
            )
    return RecordedOrder(order_id, customer_id, timestamp, lines)


def _line(check: _Checker, field: str, message: pb.OrderLine) -> RecordedLine:
    item_id = check.one_id(f"{field}.item_id", message.item_id)
    if not (math.isfinite(message.quantity) and 0 < message.quantity <= MAX_LINE_QUANTITY):
        check.add(
            f"{field}.quantity",
            f"must be a number > 0 and <= {MAX_LINE_QUANTITY:,.0f}, got {message.quantity}",
        )
    price = message.price if message.HasField("price") else None
    if price is not None and not (math.isfinite(price) and price >= 0):
        check.add(f"{field}.price", f"must be a finite number >= 0, got {price}")
    return RecordedLine(item_id, message.quantity, price)


def invalid_argument(violations: Sequence[FieldViolation], unlisted: int = 0) -> InvalidArgument:
    """The error for a request's violations, at most MAX_REPORTED_VIOLATIONS of them named
    (`unlisted`: further ones already left out by whoever found them)."""
    # Whole-field problems first, so a long list of bad ids cannot crowd them out.
    ordered = sorted(violations, key=lambda violation: "[" in violation.field)
    shown = ordered[:MAX_REPORTED_VIOLATIONS]
    hidden = len(violations) - len(shown) + unlisted
    if hidden:
        shown.append(FieldViolation("(more)", f"{hidden} further violations not listed"))
    return InvalidArgument(shown)
