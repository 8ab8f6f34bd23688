"""Translation between the client's dataclasses and the basketry.v1 protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from basketry.client._types import (
    Bundle,
    BundleItem,
    CustomerRecommendation,
    Fallback,
    ItemFilter,
    Lookalike,
    ModelInfo,
    Order,
    Reason,
    Recommendation,
    RecordResult,
    ScoredCustomer,
    ScoredItem,
    SimilarCustomers,
    SimilarItems,
    Strategy,
    parse_strategy,
)
from basketry.v1 import recommender_pb2 as pb

_STRATEGY_TO_PB: dict[Strategy, pb.Strategy] = {
    Strategy.BALANCED: pb.STRATEGY_UNSPECIFIED,
    Strategy.BUY_AGAIN: pb.STRATEGY_BUY_AGAIN,
    Strategy.DISCOVER_NEW: pb.STRATEGY_DISCOVER_NEW,
}

_REASON_FROM_PB: dict[int, Reason] = {
    pb.REASON_PERSONALIZED: Reason.PERSONALIZED,
    pb.REASON_BUY_AGAIN: Reason.BUY_AGAIN,
    pb.REASON_POPULAR: Reason.POPULAR,
    pb.REASON_BOUGHT_TOGETHER: Reason.BOUGHT_TOGETHER,
    pb.REASON_SIMILAR: Reason.SIMILAR,
}

_FALLBACK_FROM_PB: dict[int, Fallback] = {
    pb.FALLBACK_COLD_CUSTOMER: Fallback.COLD_CUSTOMER,
    pb.FALLBACK_EMPTY_AFTER_FILTERS: Fallback.EMPTY_AFTER_FILTERS,
    pb.FALLBACK_UNKNOWN_ITEM: Fallback.UNKNOWN_ITEM,
}


def strategy_to_pb(strategy: Strategy | str) -> pb.Strategy:
    return _STRATEGY_TO_PB[parse_strategy(strategy)]


def filter_to_pb(item_filter: ItemFilter | None) -> pb.ItemFilter:
    message = pb.ItemFilter()
    if item_filter is None:
        return message
    message.exclude_item_ids.extend(item_filter.exclude_item_ids)
    message.only_categories.extend(item_filter.only_categories)
    message.exclude_categories.extend(item_filter.exclude_categories)
    message.in_stock_only = item_filter.in_stock_only
    if item_filter.min_price is not None:
        message.min_price = item_filter.min_price
    if item_filter.max_price is not None:
        message.max_price = item_filter.max_price
    return message


def orders_to_pb(orders: Iterable[Order]) -> pb.RecordOrdersRequest:
    request = pb.RecordOrdersRequest()
    for order in orders:
        message = request.orders.add(order_id=order.order_id, customer_id=order.customer_id)
        if order.timestamp is not None:
            message.timestamp.CopyFrom(_timestamp_to_pb(order.timestamp))
        for line in order.lines:
            line_message = message.lines.add(item_id=line.item_id, quantity=line.quantity)
            if line.price is not None:
                line_message.price = line.price
    return request


def reason_from_pb(value: int) -> Reason:
    return _REASON_FROM_PB.get(value, Reason.UNSPECIFIED)


def fallback_from_pb(value: int) -> Fallback | None:
    if value == pb.FALLBACK_UNSPECIFIED:
        return None
    return _FALLBACK_FROM_PB.get(value, Fallback.OTHER)


def scored_items_from_pb(items: Iterable[pb.ScoredItem]) -> tuple[ScoredItem, ...]:
    return tuple(
        ScoredItem(
            item_id=item.item_id,
            score=item.score,
            reason=reason_from_pb(item.reason),
            name=item.name,
            because_item_ids=tuple(item.because_item_ids),
            repeat_probability=item.repeat_probability,
            repeat_cycle_days=item.repeat_cycle_days,
        )
        for item in items
    )


def scored_customers_from_pb(
    customers: Iterable[pb.ScoredCustomer],
) -> tuple[ScoredCustomer, ...]:
    return tuple(ScoredCustomer(customer_id=c.customer_id, score=c.score) for c in customers)


def recommendation_from_pb(response: pb.RecommendResponse) -> Recommendation:
    return Recommendation(
        items=scored_items_from_pb(response.items),
        model_version=response.model_version,
        fallback=fallback_from_pb(response.fallback),
    )


def customer_recommendation_from_pb(
    response: pb.RecommendBatchResponse,
) -> CustomerRecommendation:
    return CustomerRecommendation(
        customer_id=response.customer_id,
        items=scored_items_from_pb(response.items),
        model_version=response.model_version,
        fallback=fallback_from_pb(response.fallback),
    )


def bundle_from_pb(response: pb.BundleResponse) -> Bundle:
    items = tuple(
        BundleItem(
            item_id=item.item_id,
            score=item.score,
            confidence=item.confidence,
            lift=item.lift,
            support=item.support,
            co_purchase_count=item.co_purchase_count,
            reason=reason_from_pb(item.reason),
            name=item.name,
            because_item_ids=tuple(item.because_item_ids),
        )
        for item in response.items
    )
    return Bundle(
        items=items,
        model_version=response.model_version,
        fallback=fallback_from_pb(response.fallback),
    )


def similar_items_from_pb(response: pb.SimilarItemsResponse) -> SimilarItems:
    return SimilarItems(
        items=scored_items_from_pb(response.items), model_version=response.model_version
    )


def similar_customers_from_pb(response: pb.SimilarCustomersResponse) -> SimilarCustomers:
    return SimilarCustomers(
        customers=scored_customers_from_pb(response.customers),
        model_version=response.model_version,
    )


def lookalike_from_pb(response: pb.LookalikeResponse) -> Lookalike:
    return Lookalike(
        customers=scored_customers_from_pb(response.customers),
        model_version=response.model_version,
        seed_size=response.seed_size,
    )


def record_result_from_pb(response: pb.RecordOrdersResponse) -> RecordResult:
    return RecordResult(accepted=response.accepted, duplicates=response.duplicates)


def model_info_from_pb(response: pb.GetModelInfoResponse) -> ModelInfo:
    created_at = (
        response.created_at.ToDatetime(tzinfo=UTC) if response.HasField("created_at") else None
    )
    return ModelInfo(
        model_version=response.model_version,
        created_at=created_at,
        schema_version=response.schema_version,
        counts=dict(sorted(response.counts.items())),
        parameters=dict(sorted(response.parameters.items())),
        metrics=dict(sorted(response.metrics.items())),
    )


def _timestamp_to_pb(moment: datetime) -> timestamp_pb2.Timestamp:
    # A naive datetime is taken as UTC, the same rule the order files follow.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp
