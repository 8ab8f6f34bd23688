"""`basketry evaluate`: Basketry's served picks against strong baselines on held-out orders.

The input, model and output flags are `basketry train`'s own (its argument builders), so
the same command line that trains a model evaluates it; --snapshot-dir is optional here
(where the evaluated models are published; a temporary directory by default).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basketry.snapshot import SnapshotError
from basketry.training import cli as training_cli
from basketry.training.config import TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.harness import EvaluationSettings, evaluate_split
from basketry.training.evaluation.protocols import (
    SECONDS_PER_DAY,
    Split,
    next_basket_split,
    time_window_split,
)
from basketry.training.evaluation.report import summary_text, write_outputs
from basketry.training.metrics_file import (
    add_metrics_file_argument,
    check_metrics_file_argument,
    write_metrics_file,
)
from basketry.training.pipeline import PreparedOrders, prepare_orders
from basketry.training.progress import Stages
from basketry.training.run_metrics import evaluation_scores

PROTOCOLS = ("next-basket", "time-window")


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the train options plus the evaluation options to `parser`; return the handler."""
    training_cli.add_input_arguments(parser)
    training_cli.add_model_arguments(parser)
    training_cli.add_output_arguments(
        parser,
        snapshot_dir_help="where the evaluated models are published (default: a temporary dir)",
        snapshot_dir_required=False,
        quiet_help="no progress logs",
    )
    parser.description = (
        "Fit Basketry on part of the order history (same input and model options as "
        "`basketry train`), ask the serving code for picks, and score them with the "
        "baselines (G/P/GP-TopFreq, TIFU-KNN, ALS alone, item-kNN) on the held-out orders. "
        "--seed seeds ALS and the bundle and look-alike samples. Writes evaluation.json, "
        "report.html and chart.svg."
    )
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--protocol", choices=PROTOCOLS, default="next-basket")
    evaluation.add_argument(
        "--cutoff",
        type=_date,
        metavar="YYYY-MM-DD",
        help="time-window: first day of the test window, UTC "
        "(default: the last --window-days of the data)",
    )
    evaluation.add_argument(
        "--window-days", type=training_cli.positive_float, default=30.0, metavar="DAYS"
    )
    evaluation.add_argument(
        "--k",
        type=training_cli.positive_int,
        nargs="+",
        default=[10, 20],
        metavar="K",
        help="list lengths to score; the first one drives tuning and the chart",
    )
    evaluation.add_argument(
        "--out", type=Path, metavar="DIR", help="output directory (default: evaluation/PROTOCOL)"
    )
    evaluation.add_argument("--skip-bundles", action="store_true")
    evaluation.add_argument("--skip-lookalike", action="store_true")
    add_next_basket_arguments(parser)
    add_metrics_file_argument(
        parser,
        help="write every method's scores (basketry_evaluation_score{protocol,strategy,metric,"
        "k}) and the run time to this node-exporter textfile (*.prom), atomically; other "
        "series in it (a training run's, another protocol's scores) are kept",
    )
    return _run


def add_next_basket_arguments(parser: argparse.ArgumentParser) -> None:
    """The "next-basket split" group: which customers and items the protocol keeps."""
    group = parser.add_argument_group("next-basket split")
    group.add_argument("--min-orders", type=training_cli.positive_int, default=3)
    group.add_argument("--max-orders", type=training_cli.positive_int, default=50)
    group.add_argument(
        "--min-item-count",
        type=training_cli.positive_int,
        default=5,
        metavar="N",
        help="items must be in at least N history baskets",
    )


def next_basket_from_args(args: argparse.Namespace, prepared: PreparedOrders) -> Split:
    """The next-basket split of the clean lines, as add_next_basket_arguments' flags say."""
    lines = prepared.cleaned.lines
    if lines.is_empty():
        raise TrainingInputError("no usable order lines left after cleaning (see the drop counts)")
    return next_basket_split(
        lines,
        min_orders=args.min_orders,
        max_orders=args.max_orders,
        min_item_count=args.min_item_count,
    )


def _run(args: argparse.Namespace) -> int:
    if not check_metrics_file_argument(args, "evaluate"):
        return 2
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="basketry-evaluate-") as scratch:
            snapshot_dir = args.snapshot_dir or Path(scratch)
            config = training_cli.config_from_args(args, snapshot_dir=snapshot_dir)
            result = _evaluate(args, config)
    except TrainingInputError as exc:
        print(f"basketry evaluate: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 2
    except (SnapshotError, OSError) as exc:
        print(f"basketry evaluate: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 1
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    out_dir = args.out or Path("evaluation") / args.protocol
    paths = write_outputs(result, out_dir)
    print(summary_text(result))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    metrics_written = write_metrics_file(
        args.metrics_file,
        evaluation_scores(result, args.protocol),
        "evaluate",
        scope={"protocol": args.protocol},
    )
    return 0 if metrics_written else 1


def _evaluate(args: argparse.Namespace, config: TrainingConfig) -> dict[str, Any]:
    stages = Stages(quiet=config.quiet)
    prepared = prepare_orders(config, stages)
    with stages.stage(f"split ({args.protocol})"):
        split = _split(args, prepared)
        stages.note(
            "%s history lines, %s test customers", f"{split.history.height:,}", len(split.test)
        )
    settings = EvaluationSettings(
        ks=tuple(args.k),
        seed=config.als.seed,
        bundles=not args.skip_bundles,
        lookalike=not args.skip_lookalike,
    )
    evaluated = evaluate_split(prepared, split, config, settings, config.snapshot_dir, stages)
    return {
        "protocol": {"description": split.description, "facts": split.facts},
        "parameters": {
            "ks": list(settings.ks),
            "seed": settings.seed,
            "training": config.parameters(),
        },
        "data": {
            "files": [info.as_manifest() for info in prepared.files],
            "rows_read": prepared.cleaned.rows_read,
            "rows_dropped": prepared.cleaned.dropped,
            "clean_lines": prepared.cleaned.lines.height,
        },
        **evaluated,
    }


def _split(args: argparse.Namespace, prepared: PreparedOrders) -> Split:
    if args.protocol == "next-basket":
        return next_basket_from_args(args, prepared)
    lines = prepared.cleaned.lines
    if lines.is_empty():
        raise TrainingInputError("no usable order lines left after cleaning (see the drop counts)")
    newest = int(lines["ts"].to_numpy().max())
    cutoff = args.cutoff
    if cutoff is None:
        cutoff = newest + 1 - int(args.window_days * SECONDS_PER_DAY)
    return time_window_split(lines, cutoff_ts=cutoff, window_days=args.window_days)


def _date(text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc
    return int(day.timestamp())
