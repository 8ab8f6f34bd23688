"""`basketry train`: order history in, a published snapshot out."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from basketry.snapshot import SnapshotError
from basketry.training.als import AlsSettings
from basketry.training.columns import PRESETS, check_mapping, preset, read_mapping_file
from basketry.training.config import BlendSettings, RulesSettings, TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.pipeline import train
from basketry.training.repurchase import RepurchaseSettings
from basketry.training.summary import summary_table

DEFAULT_RULES = RulesSettings()
DEFAULT_REPURCHASE = RepurchaseSettings()
DEFAULT_BLEND = BlendSettings()
DEFAULT_REGULARIZATION = 0.5
DEFAULT_ALPHA = 3.0
COLUMN_FLAGS = {
    "order_id": "--order-col",
    "customer_id": "--customer-col",
    "item_id": "--item-col",
    "quantity": "--quantity-col",
    "timestamp": "--timestamp-col",
    "price": "--price-col",
    "item_name": "--name-col",
}


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the train options to `parser` and return the handler (`name` is always train)."""
    parser.description = (
        "Read order history (CSV, gzip CSV or Parquet; columns order_id, customer_id, item_id, "
        "quantity, timestamp[, price][, item_name] unless mapped), fit ALS factors, mine "
        "bought-together partners and publish a snapshot version."
    )
    inputs = parser.add_argument_group("input")
    inputs.add_argument(
        "--orders",
        type=Path,
        action="append",
        required=True,
        metavar="PATH",
        help="order file; repeat for several files (concatenated)",
    )
    inputs.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="known data layout (online-retail: UCI Online Retail columns, "
        "float customer ids, non-product codes dropped)",
    )
    inputs.add_argument(
        "--catalog",
        type=Path,
        metavar="PATH",
        help="item catalog (CSV/Parquet): item_id[, name, category, price, in_stock]",
    )
    inputs.add_argument(
        "--columns",
        type=Path,
        metavar="FILE",
        help="JSON or TOML file mapping field names to column names",
    )
    for field, flag in COLUMN_FLAGS.items():
        inputs.add_argument(
            flag, dest=f"col_{field}", metavar="NAME", help=f"column holding {field}"
        )
    inputs.add_argument(
        "--timestamp-format",
        metavar="FMT",
        help="strptime format, or 'unix' for epoch seconds (default: infer)",
    )
    inputs.add_argument(
        "--exclude-items-regex",
        metavar="REGEX",
        help="item ids matching this (whole id) are not products and are dropped",
    )
    inputs.add_argument(
        "--cancellation-prefix",
        default="C",
        metavar="PREFIX",
        help="order ids starting with this are cancellations (default C; '' = none)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--factors", type=_positive_int, default=64, metavar="N", help="ALS latent factors"
    )
    model.add_argument(
        "--iterations", type=_positive_int, default=15, metavar="N", help="ALS iterations"
    )
    model.add_argument("--seed", type=int, default=42, metavar="N", help="ALS random seed")
    model.add_argument(
        "--regularization",
        type=_non_negative_float,
        metavar="X",
        default=DEFAULT_REGULARIZATION,
        help="ALS L2 regularization",
    )
    model.add_argument(
        "--alpha",
        type=_positive_float,
        default=DEFAULT_ALPHA,
        metavar="X",
        help="confidence scale: c = 1 + alpha*ln(1 + orders + 0.1*ln(1 + units))",
    )
    model.add_argument(
        "--threads",
        type=_positive_int,
        default=_usable_cpus(),
        metavar="N",
        help="ALS threads (defaults to the CPUs this process may use)",
    )
    model.add_argument(
        "--min-pair-count",
        type=_positive_int,
        metavar="N",
        default=DEFAULT_RULES.min_pair_count,
        help="orders two items must share to be partners",
    )
    model.add_argument(
        "--chance-discount",
        type=_non_negative_float,
        default=DEFAULT_RULES.chance_discount,
        metavar="C",
        help="partners rank by (n_ab - C * E_ab) / n_a: confidence less C x its chance level",
    )
    model.add_argument(
        "--top-partners",
        type=_positive_int,
        default=DEFAULT_RULES.top_k,
        metavar="K",
        help="partners kept per item, best first",
    )
    model.add_argument(
        "--max-basket-size",
        type=_positive_int,
        default=DEFAULT_RULES.max_basket_size,
        metavar="N",
        help="orders with more distinct items are left out of partner mining",
    )
    model.add_argument(
        "--size-buckets",
        type=_positive_int,
        default=DEFAULT_RULES.size_buckets,
        metavar="N",
        help="order-size buckets for the expected co-purchase counts",
    )
    _add_repeat_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--snapshot-dir", type=Path, required=True, metavar="DIR")
    output.add_argument(
        "--keep", type=_positive_int, default=5, metavar="N", help="snapshot versions kept"
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="no progress or summary; print only the published version path",
    )
    return _run


def _add_repeat_arguments(parser: argparse.ArgumentParser) -> None:
    repeat = parser.add_argument_group("repurchase and blend (read by the server)")
    repeat.add_argument(
        "--once-only-below",
        type=_unit_float,
        default=DEFAULT_REPURCHASE.once_only_below,
        metavar="P",
        help="items whose smoothed repeat probability is below this are not offered again "
        "to a customer who bought them",
    )
    repeat.add_argument(
        "--repeat-prior-strength",
        type=_positive_float,
        metavar="M",
        help="pseudo-buyers of the category prior on repeat probabilities "
        "(default: estimated from the data)",
    )
    repeat.add_argument(
        "--basket-decay",
        type=_decay,
        default=DEFAULT_REPURCHASE.basket_decay,
        metavar="D",
        help="weight of each older order in buy-again frequency (last order 1, then D, D^2...)",
    )
    repeat.add_argument(
        "--due-weight",
        type=_unit_float,
        default=DEFAULT_BLEND.due_weight,
        metavar="W",
        help="how much an item not yet due (days since purchase < its cycle) is held back",
    )
    repeat.add_argument(
        "--repeat-exponent",
        type=_non_negative_float,
        default=DEFAULT_BLEND.repeat_exponent,
        metavar="X",
        help="buy-again score = share x repeat_probability^X x due-ness",
    )
    repeat.add_argument(
        "--buy-again-weight",
        type=_unit_float,
        default=DEFAULT_BLEND.buy_again_weight,
        metavar="W",
        help="share of buy-again in the balanced strategy (the rest is discovery)",
    )
    repeat.add_argument(
        "--copurchase-weight",
        type=_unit_float,
        default=DEFAULT_BLEND.copurchase_weight,
        metavar="W",
        help="share of discovery given to partners of recent orders (the rest: ALS)",
    )


def _run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        report = train(config)
    except TrainingInputError as exc:
        print(f"basketry train: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SnapshotError as exc:
        print(f"basketry train: cannot publish the snapshot: {_one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the snapshot directory is not writable
        print(f"basketry train: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    print(report.version_dir if config.quiet else summary_table(report))
    return 0


def _one_line(exc: BaseException) -> str:
    # Library messages (polars) can span lines; the command promises one line on stderr.
    return " ".join(str(exc).split())


def _config(args: argparse.Namespace) -> TrainingConfig:
    fmt = preset(args.preset)
    if args.columns is not None:
        fmt = fmt.with_columns(read_mapping_file(args.columns))
    flags = {f: getattr(args, f"col_{f}") for f in COLUMN_FLAGS if getattr(args, f"col_{f}")}
    fmt = fmt.with_columns(check_mapping(flags, source="column flags"))
    if args.timestamp_format is not None:
        fmt = replace(fmt, timestamp_format=args.timestamp_format)
    if args.exclude_items_regex is not None:
        fmt = replace(fmt, exclude_items_regex=args.exclude_items_regex or None)
    return TrainingConfig(
        orders=tuple(args.orders),
        snapshot_dir=args.snapshot_dir,
        input_format=fmt,
        als=AlsSettings(
            args.factors, args.regularization, args.iterations, args.seed, args.threads
        ),
        alpha=args.alpha,
        rules=RulesSettings(
            args.min_pair_count,
            args.top_partners,
            args.max_basket_size,
            args.size_buckets,
            args.chance_discount,
        ),
        preset=args.preset,
        catalog=args.catalog,
        cancellation_prefix=args.cancellation_prefix,
        repurchase=RepurchaseSettings(
            once_only_below=args.once_only_below,
            basket_decay=args.basket_decay,
            prior_strength=args.repeat_prior_strength,
        ),
        blend=BlendSettings(
            buy_again_weight=args.buy_again_weight,
            copurchase_weight=args.copurchase_weight,
            due_weight=args.due_weight,
            repeat_exponent=args.repeat_exponent,
        ),
        keep=args.keep,
        quiet=args.quiet,
    )


def _usable_cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), not the machine's count.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _decay(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value
