"""`basketry record`: sends the orders in a canonical order file to the server in chunks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from basketry.client.cli.common import Handler, add_connection_args, bounded_int, connect
from basketry.client.cli.order_file import read_orders

MAX_ORDERS_PER_CALL = 1000
RECORD_TIMEOUT = 30.0


def configure_record(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--orders",
        required=True,
        type=Path,
        metavar="FILE",
        help="CSV with order_id,customer_id,item_id,quantity,timestamp[,price]",
    )
    parser.add_argument(
        "--chunk-size",
        type=bounded_int(1, MAX_ORDERS_PER_CALL),
        default=500,
        help=f"orders per call (1..{MAX_ORDERS_PER_CALL}, default 500)",
    )
    add_connection_args(parser, default_timeout=RECORD_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        orders = read_orders(args.orders)
        lines = sum(len(order.lines) for order in orders)
        print(f"read {len(orders)} orders ({lines} lines) from {args.orders}", file=sys.stderr)
        accepted = duplicates = 0
        with (
            connect(args) as client,
            tqdm(total=len(orders), unit="order", desc="record", file=sys.stderr) as bar,
        ):
            for start in range(0, len(orders), args.chunk_size):
                chunk = orders[start : start + args.chunk_size]
                result = client.record_orders(chunk)
                accepted += result.accepted
                duplicates += result.duplicates
                bar.update(len(chunk))
        if args.json:
            print(
                json.dumps({"orders": len(orders), "accepted": accepted, "duplicates": duplicates})
            )
        else:
            print(f"recorded {accepted} orders; {duplicates} were already recorded")
        return 0

    return run
