"""`basketry tune`: choose training parameters and serving weights on a validation split.

Same input, model and output flags as `basketry train` (its argument builders); the model
flags and --params set the starting point, trial 0. Writes a params file that `basketry
train/evaluate/tune --params` read, and with --snapshot-dir trains on all the orders with
the chosen values and publishes them with the tuning.* record in the manifest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from basketry.snapshot import SnapshotError
from basketry.training import cli as training_cli
from basketry.training.config import JsonScalar, TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.cli import add_next_basket_arguments, next_basket_from_args
from basketry.training.evaluation.protocols import validation_split
from basketry.training.pipeline import PreparedOrders, fit_and_publish, prepare_orders
from basketry.training.progress import Stages
from basketry.training.tuning.parameters import values_of, with_tuning
from basketry.training.tuning.params_file import write_params_file
from basketry.training.tuning.report import chosen_text, trials_table, tuning_record
from basketry.training.tuning.search import OBJECTIVE, TuneResult, tune
from basketry.training.tuning.space import DEFAULT_SPACE

DEFAULT_TRIALS = 16
DEFAULT_OUT = Path("tuned-params.json")
SPLIT_TEXT = (
    "next-basket split, then each test customer's last history basket is the target and "
    "the orders before it the history; the test baskets are never read"
)


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the train options plus the tuning options to `parser`; return the handler."""
    parser.description = (
        "Search training parameters and serving weights on a validation split. The split: "
        "the next-basket protocol of `basketry evaluate` sets each customer's last order "
        "aside as the test basket; tuning never reads it. Of the remaining history, each "
        "test customer's last basket is the validation target and the orders before it "
        "are fitted on. Each trial refits with random grid values (trial 0: the starting "
        "values from the flags, --params and defaults) and sweeps the serving weights on "
        f"the fitted model; objective: {OBJECTIVE}. --seed seeds ALS and the search. "
        f"Searched: {_space_text()}."
    )
    training_cli.add_input_arguments(parser)
    training_cli.add_model_arguments(parser)
    training_cli.add_output_arguments(
        parser,
        snapshot_dir_help="train on all the orders with the chosen values and publish here "
        "(default: only write the params file)",
        snapshot_dir_required=False,
        quiet_help="no progress logs",
    )
    search = parser.add_argument_group("tuning")
    search.add_argument(
        "--trials",
        type=training_cli.positive_int,
        default=DEFAULT_TRIALS,
        metavar="N",
        help="fits to try, the starting values included",
    )
    search.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="FILE",
        help="params file to write: chosen values and the tuning.* record",
    )
    add_next_basket_arguments(parser)
    return _run


def _run(args: argparse.Namespace) -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="basketry-tune-") as scratch:
            config = training_cli.config_from_args(args, snapshot_dir=Path(scratch))
            _tune(args, config)
    except TrainingInputError as exc:
        print(f"basketry tune: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 2
    except (SnapshotError, OSError) as exc:
        print(f"basketry tune: error: {training_cli.one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _tune(args: argparse.Namespace, config: TrainingConfig) -> None:
    stages = Stages(quiet=config.quiet)
    prepared = prepare_orders(config, stages)
    with stages.stage("split (next-basket, then validation)"):
        validation = validation_split(next_basket_from_args(args, prepared))
        stages.note(
            "%s history lines, %s validation customers",
            f"{validation.history.height:,}",
            f"{len(validation.test):,}",
        )
    with stages.stage(f"search ({args.trials} trials)"):
        result = tune(
            prepared,
            validation,
            config,
            trials=args.trials,
            seed=config.als.seed,
            stages=stages,
            space=DEFAULT_SPACE,
        )
    record = tuning_record(result, seed=config.als.seed, split=_split_text(args))
    write_params_file(args.out, values_of(result.chosen), record)
    print(trials_table(result), chosen_text(result), f"params: {args.out}", sep="\n\n")
    if args.snapshot_dir is not None:
        _publish(args.snapshot_dir, prepared, result, record, stages)


def _publish(
    snapshot_dir: Path,
    prepared: PreparedOrders,
    result: TuneResult,
    record: dict[str, JsonScalar],
    stages: Stages,
) -> None:
    final = with_tuning(replace(result.chosen, snapshot_dir=snapshot_dir), record)
    with stages.stage("train on all the orders with the chosen values"):
        report = fit_and_publish(prepared, final, stages)
    print(f"published: {report.version_dir}")


def _space_text() -> str:
    grids = {**DEFAULT_SPACE.training, **DEFAULT_SPACE.serving}
    return "; ".join(
        f"{name} {{{', '.join(f'{value:g}' for value in values if value is not None)}}}"
        for name, values in grids.items()
    )


def _split_text(args: argparse.Namespace) -> str:
    return (
        f"{SPLIT_TEXT} ({args.min_orders}-{args.max_orders} orders per customer, items in "
        f">= {args.min_item_count} history baskets)"
    )
