"""`basketry record`: backfill a server with orders from the same order files training reads.

The input flags are `basketry train`'s own (CSV, gzip CSV or Parquet; presets, column
mapping, the same cleaning), so a file that trains a model can be recorded as it is. The
clean lines are grouped into orders and sent with BasketryClient.record_orders in chunks;
recording an order twice has no further effect, so a failed backfill can simply be re-run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from tqdm import tqdm

from basketry.client import BasketryClientError, Order, OrderLine
from basketry.client.cli.common import (
    add_connection_args,
    bounded_int,
    connect,
    describe,
    report,
)
from basketry.training import cli as training_cli
from basketry.training.cleaning import CleanOrders
from basketry.training.errors import TrainingInputError
from basketry.training.pipeline import prepare_orders
from basketry.training.progress import Stages
from basketry.training.tuning.parameters import base_config

# The server's limits on one RecordOrders call (service/basketry/server/requests.py).
MAX_ORDERS_PER_CALL = 1_000
MAX_LINES_PER_ORDER = 1_000
RECORD_TIMEOUT = 30.0


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the train input options plus the sending options to `parser`; return the handler."""
    parser.description = (
        "Send the orders in order files to a running server (for backfills). The files are "
        "read and cleaned exactly as `basketry train` reads them (same input options); each "
        "order is dated by its first line. Orders already recorded count as duplicates, so "
        "re-running is safe."
    )
    training_cli.add_input_arguments(parser)
    parser.add_argument(
        "--chunk-size",
        type=bounded_int(1, MAX_ORDERS_PER_CALL),
        default=500,
        help=f"orders per call (1..{MAX_ORDERS_PER_CALL}, default 500)",
    )
    add_connection_args(parser, default_timeout=RECORD_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        if args.catalog is not None:
            parser.error("--catalog is not used when recording orders")
        return _run(args)

    return run


def _run(args: argparse.Namespace) -> int:
    try:
        cleaned = _read_clean_lines(args)
        orders = orders_from_lines(cleaned.lines)
    except TrainingInputError as exc:
        print(f"basketry record: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"basketry record: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 1
    accepted = duplicates = sent = 0
    try:
        with (
            connect(args) as client,
            tqdm(total=len(orders), unit="order", desc="record", file=sys.stderr) as bar,
        ):
            for chunk in _chunks(orders, args.chunk_size):
                result = client.record_orders(chunk)
                accepted += result.accepted
                duplicates += result.duplicates
                sent += len(chunk)
                bar.update(len(chunk))
    except BasketryClientError as exc:
        report(
            "record",
            f"{describe(exc, args.target)}; {sent:,} of {len(orders):,} orders were sent "
            "before this (re-running is safe: they count as duplicates)",
        )
        return 1
    _print_summary(args, cleaned, len(orders), accepted, duplicates)
    return 0


def _read_clean_lines(args: argparse.Namespace) -> CleanOrders:
    config = replace(
        base_config(tuple(args.orders), Path()),  # no snapshot is written
        input_format=training_cli.input_format_from_args(args),
        cancellation_prefix=args.cancellation_prefix,
        bad_rows=training_cli.bad_row_policy_from_args(args),
    )
    cleaned = prepare_orders(config, Stages(quiet=False)).cleaned
    if cleaned.lines.is_empty():
        raise TrainingInputError("no usable order lines left after cleaning (see the drop counts)")
    return cleaned


def orders_from_lines(lines: pl.DataFrame) -> list[Order]:
    """Clean order lines (cleaning.TYPED_SCHEMA) as orders, in the order they first appear.

    An order is dated by its first line. TrainingInputError for an order id shared by
    several customers or an order with more lines than the server takes.
    """
    grouped = lines.group_by("order_id", maintain_order=True).agg(
        pl.col("customer_id").first(),
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("ts").first(),
        pl.col("item_id"),
        pl.col("quantity"),
        pl.col("price"),
    )
    shared = grouped.filter(pl.col("customers") > 1)
    if not shared.is_empty():
        raise TrainingInputError(
            f"{shared.height:,} order id(s) belong to several customers, e.g. order "
            f"{shared['order_id'][0]!r}; an order has one customer"
        )
    too_big = grouped.filter(pl.col("item_id").list.len() > MAX_LINES_PER_ORDER)
    if not too_big.is_empty():
        raise TrainingInputError(
            f"{too_big.height:,} order(s) have more than {MAX_LINES_PER_ORDER:,} lines (the "
            f"server's limit), e.g. order {too_big['order_id'][0]!r}"
        )
    return [
        Order(
            order_id,
            customer_id,
            [
                OrderLine(item_id, quantity, _price(price))
                for item_id, quantity, price in zip(items, quantities, prices, strict=True)
            ],
            datetime.fromtimestamp(ts, tz=UTC),
        )
        for order_id, customer_id, ts, items, quantities, prices in grouped.select(
            "order_id", "customer_id", "ts", "item_id", "quantity", "price"
        ).iter_rows()
    ]


def _price(price: float | None) -> float | None:
    # The server refuses negative or non-finite prices; training ignores prices, so such
    # a value (a data-entry adjustment) is sent as unknown rather than failing the backfill.
    if price is None or not math.isfinite(price) or price < 0:
        return None
    return price


def _chunks(orders: Sequence[Order], size: int) -> list[Sequence[Order]]:
    return [orders[start : start + size] for start in range(0, len(orders), size)]


def _print_summary(
    args: argparse.Namespace, cleaned: CleanOrders, orders: int, accepted: int, duplicates: int
) -> None:
    if args.json:
        summary = {
            "rows_read": cleaned.rows_read,
            "rows_dropped": cleaned.rows_dropped,
            "dropped": cleaned.dropped,
            "lines": cleaned.lines.height,
            "orders": orders,
            "accepted": accepted,
            "duplicates": duplicates,
        }
        print(json.dumps(summary))
        return
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in cleaned.dropped.items() if count)
    print(
        f"read {cleaned.rows_read:,} rows, dropped {cleaned.rows_dropped:,}"
        + (f" ({reasons})" if reasons else "")
    )
    print(f"sent {orders:,} orders ({cleaned.lines.height:,} lines)")
    print(f"recorded {accepted:,} orders; {duplicates:,} were already recorded")
