"""`basketry train`: order history in, a published snapshot out.

The argument builders (input, model, output) and config_from_args are shared with
`basketry evaluate` and `basketry tune`, so one command line means one model everywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from basketry.snapshot import SnapshotError
from basketry.training.bad_rows import ON_BAD_ROWS, BadRowPolicy
from basketry.training.columns import (
    PRESETS,
    InputFormat,
    check_mapping,
    preset,
    read_mapping_file,
)
from basketry.training.config import TrainingConfig
from basketry.training.errors import TrainingInputError
from basketry.training.metrics_file import (
    add_metrics_file_argument,
    check_metrics_file_argument,
    write_metrics_file,
)
from basketry.training.pipeline import TrainingReport, train
from basketry.training.publish import add_announce_arguments, announce_version
from basketry.training.run_metrics import training_failure, training_success
from basketry.training.spark.settings import DEFAULT_MASTER, SparkSettings
from basketry.training.summary import summary_table
from basketry.training.tuning.parameters import (
    DEFAULTS,
    MODEL_GROUP,
    PARAMETERS,
    REPEAT_GROUP,
    apply,
    base_config,
    with_tuning,
)
from basketry.training.tuning.params_file import ParamsFile, read_params_file

ENGINES = ("local", "spark")
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
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_output_arguments(parser, snapshot_dir_help="where snapshot versions are published")
    add_metrics_file_argument(
        parser,
        help="write the run's metrics (stage durations, rows read and dropped, counts, "
        "snapshot bytes and version, success time; only the failure time when the run fails) "
        "to this node-exporter textfile (*.prom), atomically; other series in it are kept",
    )
    add_announce_arguments(parser)
    add_engine_arguments(parser)
    return _run


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The "engine" group: where the training runs (in-process, or on Apache Spark)."""
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: numpy/implicit in this process; spark: the same snapshot computed on "
        "Apache Spark (needs the spark extra, pip install 'basketry[spark]', and Java 17+) "
        "(default %(default)s)",
    )
    engine.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark, e.g. local[2], spark://host:7077, yarn "
        f"(default: spark-submit's or spark-defaults.conf's, else {DEFAULT_MASTER})",
    )
    engine.add_argument(
        "--spark-conf",
        type=spark_property,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark property for --engine spark, e.g. spark.driver.memory=8g; repeatable",
    )


def spark_property(text: str) -> tuple[str, str]:
    """argparse type: KEY=VALUE."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def spark_settings_from_args(args: argparse.Namespace) -> SparkSettings | None:
    """None for the local engine; refuses Spark options given without --engine spark."""
    if args.engine != "spark":
        if args.spark_master is not None or args.spark_conf:
            raise TrainingInputError("--spark-master and --spark-conf need --engine spark")
        return None
    return SparkSettings(master=args.spark_master, conf=dict(args.spark_conf))


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The "input" group: order files, column mapping and cleaning options."""
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
    inputs.add_argument(
        "--on-bad-rows",
        choices=ON_BAD_ROWS,
        default="fail",
        help="a malformed row (a value that does not parse, wrong number of fields, ...): "
        "fail names the file and line of the first ones and exits 2; skip leaves them out, "
        "counted by reason (default %(default)s)",
    )
    inputs.add_argument(
        "--max-bad-rows-ratio",
        type=ratio,
        default=0.1,
        metavar="R",
        help="with --on-bad-rows skip, still fail when more than this share of a file's "
        "rows are bad: it is probably the wrong file (default %(default)s)",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--params FILE, one flag per settable training parameter, and --threads.

    The parameter flags default to None, so config_from_args can tell a flag given on the
    command line (wins) from one left out (the params file's value, else the default).
    """
    groups = {
        MODEL_GROUP: parser.add_argument_group(MODEL_GROUP),
        REPEAT_GROUP: parser.add_argument_group(REPEAT_GROUP),
    }
    groups[MODEL_GROUP].add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help='JSON object of parameters by manifest name, e.g. {"als.factors": 128} (as '
        "`basketry tune` writes); it replaces the defaults below, flags given here win",
    )
    for parameter in PARAMETERS:
        default = DEFAULTS[parameter.name]
        groups[parameter.group].add_argument(
            parameter.flag,
            type=parameter.parse_flag,
            metavar=parameter.metavar,
            help=parameter.help if default is None else f"{parameter.help} (default: {default})",
        )
    groups[MODEL_GROUP].add_argument(
        "--threads",
        type=positive_int,
        default=_usable_cpus(),
        metavar="N",
        help="ALS threads (defaults to the CPUs this process may use)",
    )


def add_output_arguments(
    parser: argparse.ArgumentParser,
    *,
    snapshot_dir_help: str,
    snapshot_dir_required: bool = True,
    quiet_help: str = "no progress or summary; print only the published version path",
) -> None:
    """The "output" group: --snapshot-dir, --keep and --quiet."""
    output = parser.add_argument_group("output")
    output.add_argument(
        "--snapshot-dir",
        type=Path,
        required=snapshot_dir_required,
        metavar="DIR",
        help=snapshot_dir_help,
    )
    output.add_argument(
        "--keep", type=positive_int, default=5, metavar="N", help="snapshot versions kept"
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help=quiet_help,
    )


def config_from_args(args: argparse.Namespace, *, snapshot_dir: Path) -> TrainingConfig:
    """The TrainingConfig the parsed flags describe: flags given > --params file > defaults.

    TrainingInputError for a bad mapping or params file. tuning.* records in the params
    file go into the manifest's parameters with the values.
    """
    from_file = read_params_file(args.params) if args.params else ParamsFile({}, {})
    given = {
        parameter.name: getattr(args, parameter.dest)
        for parameter in PARAMETERS
        if getattr(args, parameter.dest) is not None
    }
    config = replace(
        base_config(tuple(args.orders), snapshot_dir, threads=args.threads),
        input_format=input_format_from_args(args),
        preset=args.preset,
        catalog=args.catalog,
        cancellation_prefix=args.cancellation_prefix,
        bad_rows=bad_row_policy_from_args(args),
        keep=args.keep,
        quiet=args.quiet,
    )
    return with_tuning(apply(apply(config, from_file.values), given), from_file.tuning)


def _run(args: argparse.Namespace) -> int:
    if not check_metrics_file_argument(args, "train"):
        return 2
    try:
        outcome = _train(args)
    except BaseException:  # a crash or an interrupt is a failed run too (and still raised)
        write_metrics_file(args.metrics_file, training_failure(), "train")
        raise
    if isinstance(outcome, int):
        write_metrics_file(args.metrics_file, training_failure(), "train")
        return outcome
    report = outcome
    # Written only now that the snapshot is published: a success time means a served model.
    metrics_written = write_metrics_file(args.metrics_file, training_success(report), "train")
    print(report.version_dir if args.quiet else summary_table(report))
    # The snapshot is published either way; a failed announcement only delays servers to
    # their next poll, so it is logged, not an error of the training run.
    announce_version(args, report.version_dir.name)
    return 0 if metrics_written else 1


def _train(args: argparse.Namespace) -> TrainingReport | int:
    """The published run's report, or the exit code of a failed run (reason on stderr)."""
    try:
        spark = spark_settings_from_args(args)
        return train(config_from_args(args, snapshot_dir=args.snapshot_dir), spark=spark)
    except TrainingInputError as exc:
        print(f"basketry train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except SnapshotError as exc:
        print(f"basketry train: cannot publish the snapshot: {one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the snapshot directory is not writable
        print(f"basketry train: error: {one_line(exc)}", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """The exception's message on one line."""
    # Library messages (polars) can span lines; the command promises one line on stderr.
    return " ".join(str(exc).split())


def bad_row_policy_from_args(args: argparse.Namespace) -> BadRowPolicy:
    """What --on-bad-rows and --max-bad-rows-ratio say to do with malformed rows."""
    return BadRowPolicy(args.on_bad_rows, args.max_bad_rows_ratio)


def input_format_from_args(args: argparse.Namespace) -> InputFormat:
    """The input format the --preset, --columns, --*-col and cleaning flags describe."""
    fmt = preset(args.preset)
    if args.columns is not None:
        fmt = fmt.with_columns(read_mapping_file(args.columns))
    flags = {f: getattr(args, f"col_{f}") for f in COLUMN_FLAGS if getattr(args, f"col_{f}")}
    fmt = fmt.with_columns(check_mapping(flags, source="column flags"))
    if args.timestamp_format is not None:
        fmt = replace(fmt, timestamp_format=args.timestamp_format)
    if args.exclude_items_regex is not None:
        fmt = replace(fmt, exclude_items_regex=args.exclude_items_regex or None)
    return fmt


def _usable_cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), not the machine's count.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def ratio(text: str) -> float:
    """argparse type: a float within [0, 1]."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0 and 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value
