"""Runs the training stages in order and publishes one snapshot version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from basketry.snapshot import publish_snapshot
from basketry.training.als import fit_factors
from basketry.training.assemble import (
    TrainedParts,
    snapshot_arrays,
    snapshot_counts,
    snapshot_input_info,
)
from basketry.training.bad_rows import BadRows, enforce
from basketry.training.catalog import Catalog, read_catalog
from basketry.training.cleaning import CleanOrders, check_regex, clean, parse_fields
from basketry.training.columns import ALL_FIELDS, FIELD_KINDS, OPTIONAL_FIELDS
from basketry.training.config import JsonScalar, TrainingConfig
from basketry.training.copurchase import Baskets, Partners, build_baskets, mine_partners
from basketry.training.errors import TrainingInputError
from basketry.training.items import item_attributes
from basketry.training.locations import LINE, ROW
from basketry.training.matrices import History, IndexedLines, build_history, index_lines
from basketry.training.order_checks import check_orders_across_files, order_bad_rows
from basketry.training.popularity import item_buyers
from basketry.training.progress import Stages
from basketry.training.reading import FileInfo, check_is_file, read_table
from basketry.training.repurchase import RepurchaseStats, repurchase_stats
from basketry.training.spark.settings import SparkSettings, check_spark_installed


@dataclass(frozen=True)
class TrainingReport:
    """What a run produced, for the summary table."""

    version_dir: Path
    snapshot_bytes: int
    clean: CleanOrders
    counts: dict[str, int]
    seconds: dict[str, float]
    total_seconds: float


@dataclass(frozen=True)
class PreparedOrders:
    """Clean order lines ready to fit on, with where they came from."""

    cleaned: CleanOrders
    files: list[FileInfo]
    catalog: Catalog | None


def train(config: TrainingConfig, *, spark: SparkSettings | None = None) -> TrainingReport:
    """Read, clean, fit, mine and publish; TrainingInputError before publishing on bad input.

    `spark` switches the fitting to the Spark engine (see fit_and_publish).
    """
    if spark is not None:
        check_spark_installed()  # before any slow work
    stages = Stages(quiet=config.quiet)
    return fit_and_publish(prepare_orders(config, stages), config, stages, spark=spark)


def prepare_orders(config: TrainingConfig, stages: Stages) -> PreparedOrders:
    """Read and clean the configured order files (and catalog); no fitting yet.

    The evaluation harness calls this once, splits `cleaned.lines`, and fits on a part.
    """
    _check_before_work(config)
    with stages.stage("read"):
        typed, files = _read_orders(config)
        stages.note("read %s rows from %d file(s)", f"{typed.height:,}", len(files))
    catalog: Catalog | None = None
    if config.catalog is not None:
        with stages.stage("catalog"):
            catalog = read_catalog(config.catalog, config.bad_rows)
            stages.note("catalog lists %s items", f"{catalog.items.height:,}")
    with stages.stage("clean"):
        cleaned = clean(
            typed,
            exclude_items_regex=config.input_format.exclude_items_regex,
            cancellation_prefix=config.cancellation_prefix,
        )
        stages.note("kept %s rows, dropped %s", f"{cleaned.lines.height:,}", _dropped_text(cleaned))
    return PreparedOrders(cleaned, files, catalog)


def fit_and_publish(
    prepared: PreparedOrders,
    config: TrainingConfig,
    stages: Stages,
    *,
    spark: SparkSettings | None = None,
) -> TrainingReport:
    """Fit factors, mine partners and publish one version from clean order lines.

    The engine: in-process numpy/implicit by default, Apache Spark when `spark` is given;
    both give the same snapshot format through the same writer.
    """
    cleaned, files, catalog = prepared.cleaned, prepared.files, prepared.catalog
    if cleaned.lines.is_empty():
        raise TrainingInputError("no usable order lines left after cleaning (see the drop counts)")
    if spark is None:
        parts = fit_parts(prepared, config, stages)
        engine: dict[str, JsonScalar] = {"engine": "local"}
    else:
        check_spark_installed()
        # Imported here: the local engine never imports pyspark (an optional extra).
        from basketry.training.spark.engine import fit_parts_on_spark

        parts, engine = fit_parts_on_spark(prepared, config, stages, spark)
    counts = snapshot_counts(parts)
    metrics = {f"{name}_seconds": seconds for name, seconds in stages.seconds.items()}
    metrics["total_seconds"] = stages.total_seconds  # everything before publishing
    metrics.update(parts.repurchase.learned())
    with stages.stage("publish"):
        version_dir = publish_snapshot(
            config.snapshot_dir,
            snapshot_arrays(parts),
            counts=counts,
            parameters=config.parameters() | engine,
            input_info=snapshot_input_info(files, catalog, cleaned, parts),
            metrics=metrics,
            keep=config.keep,
        )
        stages.note("published %s", version_dir)
    size = sum(path.stat().st_size for path in version_dir.iterdir())
    return TrainingReport(version_dir, size, cleaned, counts, stages.seconds, stages.total_seconds)


def fit_parts(prepared: PreparedOrders, config: TrainingConfig, stages: Stages) -> TrainedParts:
    """The local engine: every trained part of the snapshot, in this process."""
    cleaned, catalog = prepared.cleaned, prepared.catalog
    with stages.stage("matrices"):
        indexed = index_lines(cleaned.lines)
        history = build_history(indexed, alpha=config.alpha)
        attributes = item_attributes(indexed, catalog)
        buyers = item_buyers(history.items, indexed.item_ids.shape[0])
        note_matrices(stages, indexed, history)
    with stages.stage("fit"):
        stages.note("ALS: %d factors, %d iterations", config.als.factors, config.als.iterations)
        customer_factors, item_factors = fit_factors(
            history.confidence_matrix(indexed.item_ids.shape[0]),
            config.als,
            show_progress=not config.quiet,
        )
    with stages.stage("mining"):
        baskets = build_baskets(
            indexed.lines["order_idx"].to_numpy(),
            indexed.lines["item_idx"].to_numpy(),
            n_orders=indexed.order_count,
            n_items=indexed.item_ids.shape[0],
            max_basket_size=config.rules.max_basket_size,
        )
        partners = mine_partners(
            baskets,
            min_pair_count=config.rules.min_pair_count,
            top_k=config.rules.top_k,
            max_buckets=config.rules.size_buckets,
            chance_discount=config.rules.chance_discount,
        )
        note_mining(stages, baskets, partners)
    with stages.stage("repurchase"):
        repurchase = repurchase_stats(indexed, history, attributes.categories, config.repurchase)
        note_repurchase(stages, repurchase)
    return TrainedParts(
        indexed,
        history,
        attributes,
        customer_factors,
        item_factors,
        buyers,
        baskets,
        partners,
        repurchase,
    )


def note_matrices(stages: Stages, indexed: IndexedLines, history: History) -> None:
    stages.note(
        "%s customers x %s items, %s history entries",
        f"{indexed.customer_ids.shape[0]:,}",
        f"{indexed.item_ids.shape[0]:,}",
        f"{history.items.shape[0]:,}",
    )


def note_mining(stages: Stages, baskets: Baskets, partners: Partners) -> None:
    stages.note(
        "%s orders mined (%s too big), %s partner entries",
        f"{baskets.orders:,}",
        f"{baskets.too_big:,}",
        f"{partners.partner.shape[0]:,}",
    )


def note_repurchase(stages: Stages, repurchase: RepurchaseStats) -> None:
    stages.note(
        "repeat rate %.3f overall, prior strength %.1f, %s once-only items",
        repurchase.global_rate,
        repurchase.prior_strength,
        f"{int(repurchase.item_once_only.sum()):,}",
    )


def _check_before_work(config: TrainingConfig) -> None:
    # Fail before any slow work when a path or the regex is wrong.
    for path in (*config.orders, *([config.catalog] if config.catalog else [])):
        check_is_file(path)
    if config.input_format.exclude_items_regex:
        check_regex(config.input_format.exclude_items_regex)


def _read_orders(config: TrainingConfig) -> tuple[pl.DataFrame, list[FileInfo]]:
    """Every order file parsed, with each row's bad-row reason; refused per the policy."""
    fmt = config.input_format
    wanted = {name: fmt.column_for(name) for name in ALL_FIELDS}
    frames: list[pl.DataFrame] = []
    files: list[FileInfo] = []
    found: list[BadRows] = []
    for path in config.orders:
        raw, info = read_table(path, wanted, optional=OPTIONAL_FIELDS, kinds=FIELD_KINDS)
        typed = parse_fields(raw, fmt, source=str(path))
        bad = order_bad_rows(
            raw, typed, columns=wanted, source=str(path), timestamp_format=fmt.timestamp_format
        )
        frames.append(typed.with_columns(bad.reasons, raw[LINE], raw[ROW]))
        files.append(info)
        found.append(bad)
    enforce(config.bad_rows, found)
    check_orders_across_files(frames, [str(path) for path in config.orders])
    return pl.concat(frames, how="vertical"), files


def _dropped_text(cleaned: CleanOrders) -> str:
    parts = [f"{reason} {count:,}" for reason, count in cleaned.dropped.items() if count]
    return f"{cleaned.rows_dropped:,} ({', '.join(parts)})" if parts else "0"
