"""`basketry generate`: write a synthetic order history (and its catalogue) for benchmarks.

The files read back with plain `basketry train --orders FILE [--catalog FILE]`; the optional
truth file lists what was planted (bundle pairs, repeat cycles) for checking training.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from basketry.training.generate import GeneratedHistory, GeneratorSpec, generate, item_id
from basketry.training.progress import Stages

log = logging.getLogger(__name__)

DEFAULTS = GeneratorSpec()
SUFFIXES = (".parquet", ".csv", ".csv.gz")


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.description = (
        "Write a synthetic order history with retail structure (power-law popularity, "
        "category affinity, repeat cycles, planted bundles, heavy-tailed activity) for "
        "benchmarks and scale tests. Same seed, same files."
    )
    parser.add_argument(
        "--out", type=Path, required=True, help=f"order file to write ({', '.join(SUFFIXES)})"
    )
    parser.add_argument("--catalog-out", type=Path, help="item catalogue file to write")
    parser.add_argument(
        "--truth-out", type=Path, help="JSON file listing the planted bundles and repeat cycles"
    )
    parser.add_argument(
        "--lines",
        type=_count,
        default=DEFAULTS.order_lines,
        help="order lines (the file holds within 1%% fewer, never more); 1e6 or 1_000_000",
    )
    parser.add_argument("--customers", type=_count, default=DEFAULTS.customers)
    parser.add_argument("--items", type=_count, default=DEFAULTS.items)
    parser.add_argument("--categories", type=_count, help="default: one per 50 items, at least 10")
    parser.add_argument("--days", type=int, default=DEFAULTS.days, help="length of the history")
    parser.add_argument(
        "--basket-size",
        type=float,
        default=DEFAULTS.basket_size,
        help="mean distinct items per order",
    )
    parser.add_argument(
        "--bundles", type=int, help="planted bundle pairs (default: one per 50 items)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    return _run


def _count(text: str) -> int:
    """Accepts 1000000, 1_000_000 and 1e6."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(value)


def _run(args: argparse.Namespace) -> int:
    for path in (args.out, args.catalog_out):
        if path is not None and not str(path).endswith(SUFFIXES):
            log.error("basketry generate: %s: write .parquet, .csv or .csv.gz", path)
            return 2
    try:
        spec = GeneratorSpec(
            order_lines=args.lines,
            customers=args.customers,
            items=args.items,
            categories=args.categories or min(args.items, max(10, args.items // 50)),
            days=args.days,
            basket_size=args.basket_size,
            bundles=args.bundles if args.bundles is not None else args.items // 50,
            seed=args.seed,
        )
    except ValueError as exc:
        log.error("basketry generate: %s", exc)
        return 2
    started = time.perf_counter()
    stages = Stages(quiet=False)
    history = generate(spec, stages)
    try:
        with stages.stage("write"):
            _write_table(history.orders, args.out)
            if args.catalog_out is not None:
                _write_table(history.catalog, args.catalog_out)
            if args.truth_out is not None:
                _write_truth(history, args.truth_out)
    except OSError as exc:
        log.error("basketry generate: cannot write: %s", exc)
        return 1
    print(
        f"wrote {history.orders.height:,} order lines "
        f"({history.orders['order_id'].n_unique():,} orders, {spec.customers:,} customers, "
        f"{spec.items:,} items, {spec.bundles:,} planted bundles) to {args.out} "
        f"({args.out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s"
    )
    return 0


def _write_table(table: pl.DataFrame, path: Path) -> None:
    """Written beside the target and renamed, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if path.name.endswith(".parquet"):
        table.write_parquet(partial)
    else:
        table.write_csv(
            partial,
            datetime_format="%Y-%m-%d %H:%M:%S",
            compression="gzip" if path.name.endswith(".gz") else "uncompressed",
            check_extension=False,
        )
    os.replace(partial, path)


def _write_truth(history: GeneratedHistory, path: Path) -> None:
    truth = history.truth
    document = {
        "bundles": [
            [item_id(int(a)), item_id(int(b))]
            for a, b in zip(truth.bundle_anchors, truth.bundle_partners, strict=True)
        ],
        "repeat_cycle_days": {
            item_id(int(i)): round(float(truth.cycle_days[i]), 2) for i in truth.repeat_items
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
