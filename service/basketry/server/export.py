"""`basketry export-orders`: the orders recorded in Redis, as an order file for training.

Recorded orders stay in Redis until a snapshot whose training data includes them is
serving (basketry.server.orders). Exporting them and passing the file to the next
`basketry train --orders` (next to the shop's own order history) is what keeps them from
being lost between the two.

The file has the canonical order-line columns (basketry.training.columns), one row per
line, so training reads it without a column mapping: order_id, customer_id, item_id,
quantity, timestamp ("YYYY-MM-DD HH:MM:SS", UTC), price (empty when unknown). It is
written to a temporary file next to the target and renamed into place, so a failed export
never leaves a partial file where training would read it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from basketry.server.orders import OrderStoreUnavailable, RecordedOrder
from basketry.server.redis_store import DEFAULT_PREFIX, RedisOrderStore, redacted
from basketry.snapshot.redis_connection import redis_client

log = logging.getLogger(__name__)

COLUMNS = ("order_id", "customer_id", "item_id", "quantity", "timestamp", "price")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
PROGRESS_EVERY = 10_000  # orders between progress lines
# Training drops orders whose id starts with its --cancellation-prefix (default "C").
TRAINING_CANCELLATION_PREFIX = "C"


@dataclass
class ExportSummary:
    orders: int = 0
    lines: int = 0
    customers: set[str] = field(default_factory=set)
    first_ts: int | None = None
    last_ts: int | None = None
    cancellation_like_ids: int = 0

    def count(self, order: RecordedOrder) -> None:
        self.orders += 1
        self.lines += len(order.lines)
        self.customers.add(order.customer_id)
        self.first_ts = (
            order.timestamp if self.first_ts is None else min(self.first_ts, order.timestamp)
        )
        self.last_ts = (
            order.timestamp if self.last_ts is None else max(self.last_ts, order.timestamp)
        )
        if order.order_id.startswith(TRAINING_CANCELLATION_PREFIX):
            self.cancellation_like_ids += 1


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.description = (__doc__ or "").split("\n\n")[0]
    parser.add_argument(
        "--redis-url",
        help="the Redis the servers record orders in: redis://[user[:password]@]host:port/db "
        "or rediss:// for TLS; the password may instead be in BASKETRY_REDIS_PASSWORD or "
        "redis_password in the config file",
    )
    parser.add_argument(
        "--redis-prefix",
        default=DEFAULT_PREFIX,
        help="prefix of every Redis key, as given to `basketry serve` (default %(default)s)",
    )
    parser.add_argument(
        "--redis-timeout",
        type=float,
        default=5.0,
        help="seconds to connect to Redis and per command (default %(default)s)",
    )
    parser.add_argument(
        "--since",
        type=int,
        metavar="UNIX_SECONDS",
        help="only orders placed after this time, e.g. the newest order of the history file "
        "trained with, so no order is in both",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the order file to write: .csv or .csv.gz",
    )
    return _run


def _run(args: argparse.Namespace) -> int:
    if not args.redis_url:
        print("error: no Redis: pass --redis-url or set BASKETRY_REDIS_URL", file=sys.stderr)
        return 2
    if not str(args.out).endswith((".csv", ".csv.gz")):
        print(f"error: --out must end in .csv or .csv.gz, got {args.out}", file=sys.stderr)
        return 2
    if not (args.redis_timeout > 0):
        print(f"error: --redis-timeout must be positive, got {args.redis_timeout}", file=sys.stderr)
        return 2
    address = redacted(args.redis_url)
    store = RedisOrderStore(
        redis_client(
            args.redis_url,
            password=getattr(args, "redis_password", None),  # env or config file only
            timeout=args.redis_timeout,
        ),
        prefix=args.redis_prefix,
        address=address,
    )
    log.info(
        "exporting recorded orders from %s (key prefix %r%s) to %s",
        address,
        args.redis_prefix,
        "" if args.since is None else f", placed after {_utc(args.since)}",
        args.out,
    )
    started = time.monotonic()
    try:
        held = store.held()
        log.info("%d orders held in Redis", held)
        summary = write_orders(store.export(args.since), args.out)
    except OrderStoreUnavailable as exc:
        print(f"error: {exc}; nothing written", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    _report(summary, args.out, time.monotonic() - started)
    return 0


def write_orders(orders: Iterable[RecordedOrder], out: Path) -> ExportSummary:
    """Write `orders` to `out` (gzip when it ends in .gz) atomically; logs progress."""
    summary = ExportSummary()
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as raw:
            with _text(raw, compress=out.name.endswith(".gz")) as text:
                writer = csv.writer(text)
                writer.writerow(COLUMNS)
                for order in orders:
                    writer.writerows(_rows(order))
                    summary.count(order)
                    if summary.orders % PROGRESS_EVERY == 0:
                        log.info("exported %d orders (%d lines)", summary.orders, summary.lines)
            raw.flush()
            os.fsync(raw.fileno())  # on disk before the rename makes it the file
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return summary


@contextmanager
def _text(raw: BinaryIO, *, compress: bool) -> Iterator[TextIO]:
    """UTF-8 text onto `raw` (gzip-compressed if asked), flushed into it on exit; `raw`
    itself stays open for the caller to fsync."""
    with ExitStack() as stack:
        binary: BinaryIO | gzip.GzipFile = raw
        if compress:
            binary = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb"))
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()  # closing the wrapper would close `raw` too


def _rows(order: RecordedOrder) -> Iterable[tuple[str, str, str, str, str, str]]:
    placed = _utc(order.timestamp)
    for line in order.lines:
        price = "" if line.price is None else _number(line.price)
        yield order.order_id, order.customer_id, line.item_id, _number(line.quantity), placed, price


def _number(value: float) -> str:
    """Integral values without ".0"; others exactly (repr round-trips a float)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime(TIMESTAMP_FORMAT)


def _report(summary: ExportSummary, out: Path, seconds: float) -> None:
    if summary.orders == 0:
        log.warning("no recorded orders to export: %s holds the header only", out)
        return
    assert summary.first_ts is not None and summary.last_ts is not None
    log.info(
        "wrote %s: %d orders, %d lines, %d customers, placed %s .. %s UTC, in %.1f s",
        out,
        summary.orders,
        summary.lines,
        len(summary.customers),
        _utc(summary.first_ts),
        _utc(summary.last_ts),
        seconds,
    )
    if summary.cancellation_like_ids:
        log.warning(
            "%d exported order ids start with %r, which `basketry train` drops as "
            "cancellations by default: train with --cancellation-prefix '' or another prefix",
            summary.cancellation_like_ids,
            TRAINING_CANCELLATION_PREFIX,
        )
