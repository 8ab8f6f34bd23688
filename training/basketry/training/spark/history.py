"""Per customer-item history and the per-line part of the repeat statistics, on Spark.

Spark aggregates the lines; the collected aggregates (one row per customer-item cell, one
per repeat gap) feed the local engine's per-item code (basketry.training.repurchase), so
both engines share the statistics' definitions. The definitions are in that module.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from basketry.training.confidence import confidence
from basketry.training.matrices import History
from basketry.training.repurchase import (
    MIN_GAP_DAYS,
    SECONDS_PER_DAY,
    CellFacts,
    RepurchaseSettings,
    RepurchaseStats,
    item_statistics,
)
from basketry.training.spark.lines import collect

CELL = ("customer_idx", "item_idx")


def history_cells(lines: DataFrame, *, n_customers: int, alpha: float) -> History:
    """Distinct orders, units and last purchase per cell, as matrices.build_history gives."""
    cells = lines.groupBy(*CELL).agg(
        F.countDistinct("order_idx").alias("orders"),
        F.sum("quantity").alias("quantity"),
        F.max("ts").alias("last_ts"),
    )
    collected = collect(cells).sort(*CELL)
    orders = collected["orders"].to_numpy().astype(np.int32)
    quantity = collected["quantity"].to_numpy()
    return History(
        indptr=_indptr(collected["customer_idx"].to_numpy(), n_customers),
        items=collected["item_idx"].to_numpy().astype(np.int32),
        orders=orders,
        quantity=quantity.astype(np.float32),
        last_ts=collected["last_ts"].to_numpy().astype(np.int64),
        confidence=confidence(orders, quantity, alpha),
    )


def repurchase_on_spark(
    lines: DataFrame,
    history: History,
    item_categories: np.ndarray,
    settings: RepurchaseSettings,
    *,
    n_customers: int,
) -> RepurchaseStats:
    """repurchase.repurchase_stats, with the per-line work done by Spark."""
    decay = settings.basket_decay
    if not 0 < decay <= 1:
        raise ValueError(f"basket_decay must be in (0, 1], got {decay}")
    # Each order's time and position in its customer's sequence (0 = first order); ties in
    # time go by order index, as in the local engine.
    orders = lines.groupBy("order_idx").agg(
        F.min("customer_idx").alias("customer_idx"), F.min("ts").alias("ts")
    )
    sequence = Window.partitionBy("customer_idx").orderBy("ts", "order_idx")
    orders = orders.withColumn("position", F.row_number().over(sequence) - 1)
    customer_totals = orders.groupBy("customer_idx").agg(F.count("*").alias("n_orders"))
    cell_orders = (
        lines.select(*CELL, "order_idx")
        .distinct()
        .join(orders.select("order_idx", "ts", "position"), on="order_idx")
        .join(customer_totals, on="customer_idx")
    )
    # Recency weight of the order holding the item: the customer's last order weighs 1.
    weight = F.pow(F.lit(decay), F.col("n_orders") - 1 - F.col("position"))
    per_cell = cell_orders.groupBy(*CELL).agg(
        F.min("position").alias("first"),
        F.count("*").alias("orders"),
        F.sum(weight).alias("weight"),
        F.first("n_orders").alias("n_orders"),
    )
    by_position = Window.partitionBy(*CELL).orderBy("position")
    gap = (F.col("ts") - F.lag("ts").over(by_position)) / SECONDS_PER_DAY
    gaps_per_line = (
        cell_orders.select("item_idx", gap.alias("gap"))
        .where(F.col("gap") >= MIN_GAP_DAYS)
        .select("item_idx", "gap")
    )
    cells = collect(per_cell).sort(*CELL)
    if not np.array_equal(cells["item_idx"].to_numpy(), history.items):
        raise RuntimeError("repurchase cells do not match the history cells (a bug)")
    customer_orders = np.zeros(n_customers, dtype=np.int64)
    totals = collect(customer_totals)
    customer_orders[totals["customer_idx"].to_numpy()] = totals["n_orders"].to_numpy()
    n_orders = cells["n_orders"].to_numpy().astype(np.float64)
    total_weight = n_orders if decay == 1 else (1 - decay**n_orders) / (1 - decay)
    facts = CellFacts(
        customer=cells["customer_idx"].to_numpy().astype(np.int64),
        item=cells["item_idx"].to_numpy().astype(np.int64),
        first_position=cells["first"].to_numpy(),
        orders=cells["orders"].to_numpy(),
        recent_share=cells["weight"].to_numpy() / total_weight,
    )
    gaps = collect(gaps_per_line).cast({"item_idx": pl.Int64})
    return item_statistics(facts, gaps, customer_orders, item_categories, settings)


def _indptr(rows: np.ndarray, n_rows: int) -> np.ndarray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr
