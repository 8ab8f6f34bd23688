"""Runs the training stages on Spark and returns the same trained parts as the local engine.

On the driver, with the local engine's code: the id indexes (so ids and their order are
the same), item attributes, and the binary orders x items basket matrix that the expected
co-occurrence counts need (one entry per order line at most; cheap next to the pairs).
On Spark: per customer-item history, pair co-occurrence counts, the per-line part of the
repeat statistics, and the ALS factors.
"""

from __future__ import annotations

from contextlib import ExitStack

import pyspark

from basketry.training.assemble import TrainedParts
from basketry.training.config import JsonScalar, TrainingConfig
from basketry.training.copurchase import build_baskets
from basketry.training.items import item_attributes
from basketry.training.matrices import index_lines
from basketry.training.pipeline import (
    PreparedOrders,
    note_matrices,
    note_mining,
    note_repurchase,
)
from basketry.training.popularity import item_buyers
from basketry.training.progress import Stages
from basketry.training.spark.factors import fit_factors_on_spark
from basketry.training.spark.history import history_cells, repurchase_on_spark
from basketry.training.spark.lines import lines_frame
from basketry.training.spark.pairs import partners_on_spark
from basketry.training.spark.session import spark_session
from basketry.training.spark.settings import SparkSettings


def fit_parts_on_spark(
    prepared: PreparedOrders, config: TrainingConfig, stages: Stages, settings: SparkSettings
) -> tuple[TrainedParts, dict[str, JsonScalar]]:
    """The trained parts, and the manifest parameters saying where they were computed."""
    with stages.stage("index"):
        indexed = index_lines(prepared.cleaned.lines)
        attributes = item_attributes(indexed, prepared.catalog)
        n_customers, n_items = indexed.customer_ids.shape[0], indexed.item_ids.shape[0]
    with ExitStack() as running:
        with stages.stage("spark"):  # start-up (seconds: a JVM) and loading the lines
            session = running.enter_context(spark_session(settings))
            master = session.sparkContext.master
            stages.note("Spark %s, master %s", pyspark.__version__, master)
            lines = lines_frame(session, indexed)
        with stages.stage("matrices"):
            history = history_cells(lines, n_customers=n_customers, alpha=config.alpha)
            buyers = item_buyers(history.items, n_items)
            note_matrices(stages, indexed, history)
        with stages.stage("fit"):
            stages.note(
                "MLlib ALS: %d factors, %d iterations", config.als.factors, config.als.iterations
            )
            customer_factors, item_factors = fit_factors_on_spark(
                session, history, n_items, config.als
            )
        with stages.stage("mining"):
            baskets = build_baskets(
                indexed.lines["order_idx"].to_numpy(),
                indexed.lines["item_idx"].to_numpy(),
                n_orders=indexed.order_count,
                n_items=n_items,
                max_basket_size=config.rules.max_basket_size,
            )
            partners = partners_on_spark(lines, baskets, config.rules)
            note_mining(stages, baskets, partners)
        with stages.stage("repurchase"):
            repurchase = repurchase_on_spark(
                lines,
                history,
                attributes.categories,
                config.repurchase,
                n_customers=n_customers,
            )
            note_repurchase(stages, repurchase)
        lines.unpersist()
    parts = TrainedParts(
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
    return parts, {"engine": "spark", "spark.master": master, "spark.version": pyspark.__version__}
