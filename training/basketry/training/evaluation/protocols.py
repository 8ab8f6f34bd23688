"""Evaluation protocols: how clean order lines become a history to fit on and baskets to guess.

A basket is one order with its items de-duplicated. Orders are placed in time by their
first line's timestamp (ties broken by order id), so "last basket" is well defined.
Test items are always restricted to items seen in the history: no model can recommend an
item it has never seen, and counting such items would only lower every method alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from basketry.training.errors import TrainingInputError

SECONDS_PER_DAY = 86_400
JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class Split:
    """History lines to fit on and, per test customer, the items to guess.

    `history` has the clean-line columns (order_id, customer_id, item_id, quantity, ts,
    price, item_name); `test` maps a customer id to the distinct items of their target;
    `cutoff_ts` is the newest history timestamp + 1 (next-basket) or the cutoff
    (time-window); `facts` holds the protocol's parameters and counts for the report.
    """

    history: pl.DataFrame
    test: Mapping[str, frozenset[str]]
    target_lines: pl.DataFrame
    cutoff_ts: int
    description: str
    facts: dict[str, JsonScalar] = field(default_factory=dict)


def order_times(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per order: order_id, customer_id, ts (its first line), ordered in time."""
    return (
        lines.group_by("order_id")
        .agg(pl.col("customer_id").first(), pl.col("ts").min())
        .sort(["ts", "order_id"])
    )


def next_basket_split(
    lines: pl.DataFrame, *, min_orders: int = 3, max_orders: int = 50, min_item_count: int = 5
) -> Split:
    """Each kept customer's last basket is the test (Reality Check protocol).

    Customers with min_orders..max_orders baskets are kept; items must appear in at least
    `min_item_count` of the kept customers' history baskets (history lines of rarer items
    are dropped too, so every method sees the same catalogue). Customers whose test basket
    holds no kept item are left out of the test (counted).
    """
    if min_orders < 2 or max_orders < min_orders or min_item_count < 1:
        raise TrainingInputError(
            "next-basket needs 2 <= min_orders <= max_orders and min_item_count >= 1, got "
            f"{min_orders}, {max_orders}, {min_item_count}"
        )
    orders = order_times(lines).with_columns(
        position=pl.int_range(pl.len()).over("customer_id"),
        baskets=pl.len().over("customer_id"),
    )
    kept = orders.filter(pl.col("baskets").is_between(min_orders, max_orders))
    if kept.is_empty():
        raise TrainingInputError(
            f"no customer has {min_orders}-{max_orders} orders: nothing to evaluate"
        )
    test_orders = kept.filter(pl.col("position") == pl.col("baskets") - 1)["order_id"]
    kept_lines = lines.filter(pl.col("order_id").is_in(kept["order_id"].implode()))
    is_test = pl.col("order_id").is_in(test_orders.implode())
    history = kept_lines.filter(~is_test)
    basket_counts = history.unique(["order_id", "item_id"]).group_by("item_id").len()
    items = basket_counts.filter(pl.col("len") >= min_item_count)["item_id"]
    history = history.filter(pl.col("item_id").is_in(items.implode()))
    target_lines = kept_lines.filter(is_test)
    test = _items_per_customer(target_lines, history)
    return Split(
        history=history,
        test=test,
        target_lines=target_lines,
        cutoff_ts=_newest(history) + 1 if history.height else 0,
        description=(
            f"next-basket: each customer's last order is the test basket; customers with "
            f"{min_orders}-{max_orders} orders; items in >= {min_item_count} history baskets; "
            "test items restricted to items in the history"
        ),
        facts={
            "protocol": "next-basket",
            "min_orders": min_orders,
            "max_orders": max_orders,
            "min_item_count": min_item_count,
            "customers_kept": int(kept["customer_id"].n_unique()),
            "customers_without_known_test_items": int(kept["customer_id"].n_unique()) - len(test),
            **_history_counts(history, test),
        },
    )


def time_window_split(lines: pl.DataFrame, *, cutoff_ts: int, window_days: float) -> Split:
    """History = orders before the cutoff; test = each history customer's items in the window.

    An order belongs to the side its first line falls on. Customers with no history are
    not tested (a campaign targets known customers); neither are those who buy nothing
    known in the window.
    """
    if window_days <= 0:
        raise TrainingInputError(f"window days must be > 0, got {window_days}")
    window_end = cutoff_ts + int(window_days * SECONDS_PER_DAY)
    orders = order_times(lines)
    before = orders.filter(pl.col("ts") < cutoff_ts)["order_id"]
    during = orders.filter(pl.col("ts").is_between(cutoff_ts, window_end, closed="left"))
    history = lines.filter(pl.col("order_id").is_in(before.implode()))
    if history.is_empty() or during.is_empty():
        raise TrainingInputError(
            "the cutoff leaves no history before it or no orders in the window after it "
            f"(orders span {_day(int(lines['ts'].to_numpy().min()))} to {_day(_newest(lines))})"
        )
    window = lines.filter(pl.col("order_id").is_in(during["order_id"].implode()))
    window = window.filter(pl.col("customer_id").is_in(history["customer_id"].unique().implode()))
    test = _items_per_customer(window, history)
    return Split(
        history=history,
        test=test,
        target_lines=window,
        cutoff_ts=cutoff_ts,
        description=(
            f"time-window: history = orders before {_day(cutoff_ts)}; test = each known "
            f"customer's items in the following {window_days:g} days, restricted to items "
            "in the history"
        ),
        facts={
            "protocol": "time-window",
            "cutoff": _day(cutoff_ts),
            "cutoff_ts": cutoff_ts,
            "window_days": window_days,
            "window_orders": during.height,
            **_history_counts(history, test),
        },
    )


def validation_split(split: Split) -> Split:
    """For tuning: each test customer's last history basket becomes the target.

    Only the history is used (the test baskets are never read), so choices made on this
    split cannot leak the test. Customers with a single history basket have no target.
    """
    orders = order_times(split.history).with_columns(
        position=pl.int_range(pl.len()).over("customer_id"),
        baskets=pl.len().over("customer_id"),
    )
    targets = orders.filter(
        pl.col("customer_id").is_in(list(split.test))
        & (pl.col("position") == pl.col("baskets") - 1)
        & (pl.col("baskets") >= 2)
    )["order_id"]
    is_target = pl.col("order_id").is_in(targets.implode())
    history = split.history.filter(~is_target)
    target_lines = split.history.filter(is_target)
    test = _items_per_customer(target_lines, history)
    return Split(
        history=history,
        test=test,
        target_lines=target_lines,
        cutoff_ts=_newest(history) + 1 if history.height else 0,
        description="validation: each test customer's last history basket is the target",
        facts={"protocol": "validation", **_history_counts(history, test)},
    )


def _items_per_customer(
    target_lines: pl.DataFrame, history: pl.DataFrame
) -> dict[str, frozenset[str]]:
    known = target_lines.filter(pl.col("item_id").is_in(history["item_id"].unique().implode()))
    grouped = known.group_by("customer_id").agg(pl.col("item_id").unique()).sort("customer_id")
    return {
        customer: frozenset(items)
        for customer, items in zip(
            grouped["customer_id"].to_list(), grouped["item_id"].to_list(), strict=True
        )
    }


def _history_counts(history: pl.DataFrame, test: Mapping[str, frozenset[str]]) -> dict[str, int]:
    return {
        "history_lines": history.height,
        "history_orders": int(history["order_id"].n_unique()),
        "history_customers": int(history["customer_id"].n_unique()),
        "history_items": int(history["item_id"].n_unique()),
        "test_customers": len(test),
        "test_items": sum(len(items) for items in test.values()),
    }


def _newest(lines: pl.DataFrame) -> int:
    return int(lines["ts"].to_numpy().max())


def _day(ts: int) -> str:
    return str(pl.from_epoch(pl.Series([ts]), time_unit="s").dt.strftime("%Y-%m-%d")[0])
