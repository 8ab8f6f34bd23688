"""`basketry picks`: picks for a list of customers into a CSV or JSONL file (mail campaigns).

Streams a batch per chunk of the list (BasketryClient.recommend_batch: RecommendBatchChunked,
or RecommendBatch with an older server), shows a progress bar on stderr and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from basketry.client import BasketryClient, BasketryClientError, CustomerRecommendation
from basketry.client.cli.common import (
    Handler,
    add_connection_args,
    add_filter_args,
    add_pick_args,
    bounded_int,
    connect,
    item_filter,
)
from basketry.client.cli.customer_file import CustomerList, read_customer_ids
from basketry.client.cli.picks_output import PicksWriter, atomic_output, format_for, picks_writer

MAX_CHUNK = 10_000
CHUNK_TIMEOUT = 300.0
EXAMPLES_SHOWN = 5


@dataclass
class PicksSummary:
    output: str
    format: str
    customers: int = 0
    rows: int = 0
    customers_without_picks: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=list)
    duplicate_ids_skipped: int = 0
    empty_ids_skipped: int = 0
    seconds: float = 0.0
    customers_per_second: float = 0.0

    def count(self, answer: CustomerRecommendation, rows: int) -> None:
        self.customers += 1
        self.rows += rows
        self.customers_without_picks += not answer.items
        if answer.fallback is not None:
            self.fallbacks[answer.fallback.value] = self.fallbacks.get(answer.fallback.value, 0) + 1
        if answer.model_version not in self.model_versions:
            self.model_versions.append(answer.model_version)


def configure_picks(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument(
        "--customers",
        required=True,
        metavar="FILE",
        help="one customer id per line, or CSV with a customer_id column; '-' reads stdin",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="output file")
    parser.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="output format (default: from the --out extension)",
    )
    add_pick_args(parser, limit_help="items per customer (1..500)")
    parser.add_argument(
        "--campaign", default="", help="campaign name (picks are not repeated within one campaign)"
    )
    parser.add_argument("--explain", action="store_true", help="fill because_item_ids")
    parser.add_argument(
        "--chunk-size",
        type=bounded_int(1, MAX_CHUNK),
        default=1000,
        help=f"customers per batch call (1..{MAX_CHUNK}, default 1000)",
    )
    add_filter_args(parser)
    add_connection_args(parser, default_timeout=CHUNK_TIMEOUT)

    def run(args: argparse.Namespace) -> int:
        output_format = args.format or format_for(args.out)
        if output_format is None:
            parser.error(
                f"cannot tell the format of {args.out} from its extension; "
                "pass --format csv or --format jsonl"
            )
        customers = read_customer_ids(args.customers)
        _warn_skipped(customers)
        print(
            f"picks for {len(customers.ids)} customers from {args.customers} to {args.out} "
            f"({output_format}, {args.chunk_size} customers per call)",
            file=sys.stderr,
        )
        summary = PicksSummary(
            output=str(args.out),
            format=output_format,
            duplicate_ids_skipped=len(customers.duplicate_ids),
            empty_ids_skipped=len(customers.empty_lines),
        )
        started = time.perf_counter()
        with connect(args, batch=True) as client, atomic_output(args.out) as handle:
            writer = picks_writer(output_format, handle)
            _write_picks(client, args, customers.ids, writer, summary)
        summary.seconds = round(time.perf_counter() - started, 3)
        summary.customers_per_second = round(summary.customers / max(summary.seconds, 1e-9), 1)
        _print_summary(summary, as_json=args.json)
        return 0

    return run


def _write_picks(
    client: BasketryClient,
    args: argparse.Namespace,
    customer_ids: Sequence[str],
    writer: PicksWriter,
    summary: PicksSummary,
) -> None:
    with tqdm(total=len(customer_ids), unit="customer", desc="picks", file=sys.stderr) as bar:
        for start in range(0, len(customer_ids), args.chunk_size):
            chunk = customer_ids[start : start + args.chunk_size]
            answers = client.recommend_batch(
                chunk,
                limit=args.limit,
                filter=item_filter(args),
                strategy=args.strategy,
                explain=args.explain,
                campaign=args.campaign,
            )
            received = 0
            for expected, answer in zip(chunk, answers, strict=False):
                if answer.customer_id != expected:
                    raise BasketryClientError(
                        f"the server answered for {answer.customer_id!r} where "
                        f"{expected!r} was due (answers out of request order)"
                    )
                summary.count(answer, writer.write(answer))
                received += 1
                bar.update(1)
            if received != len(chunk):
                raise BasketryClientError(
                    f"the server answered for {received} of {len(chunk)} customers in a batch"
                )


def _warn_skipped(customers: CustomerList) -> None:
    if customers.duplicate_ids:
        distinct = list(dict.fromkeys(customers.duplicate_ids))
        print(
            f"warning: skipped {len(customers.duplicate_ids)} duplicated customer id(s): "
            f"{_examples(distinct)}",
            file=sys.stderr,
        )
    if customers.empty_lines:
        lines = [str(number) for number in customers.empty_lines]
        print(
            f"warning: skipped {len(lines)} empty customer id(s) on line(s) {_examples(lines)}",
            file=sys.stderr,
        )


def _examples(values: Sequence[str]) -> str:
    shown = ", ".join(values[:EXAMPLES_SHOWN])
    return shown + (", …" if len(values) > EXAMPLES_SHOWN else "")


def _print_summary(summary: PicksSummary, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(summary), indent=2))
        return
    fallbacks = Counter(summary.fallbacks)
    by_reason = ", ".join(f"{reason} {n}" for reason, n in fallbacks.most_common()) or "none"
    print(
        f"wrote {summary.rows} rows for {summary.customers} customers to {summary.output} "
        f"({summary.format}) in {summary.seconds:.1f}s "
        f"({summary.customers_per_second:.0f} customers/s)"
    )
    print(f"fallbacks: {by_reason}; customers without picks: {summary.customers_without_picks}")
    print(f"model: {', '.join(summary.model_versions)}")
    if len(summary.model_versions) > 1:
        print(
            "warning: the server switched models during the run; picks mix model versions",
            file=sys.stderr,
        )
