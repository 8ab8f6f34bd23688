"""Bought-together partners with the co-occurrence counts from a Spark job.

The job is a self-join of the order lines on the order id, within baskets of at most
max_basket_size distinct items, counting each pair a < b once per order and keeping
pairs with n_ab >= min_pair_count. MLlib's FPGrowth is not used: it mines itemsets of
every size with no cap, where only pairs are wanted. The counts (bounded: each item keeps
partners it was actually ordered with) are collected, and the expected counts, scores and
top-K are computed exactly as basketry.training.copurchase defines them.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from basketry.training.config import RulesSettings
from basketry.training.copurchase import Baskets, Partners, expected_counts, rank_partners
from basketry.training.spark.lines import collect


def pair_counts(
    lines: DataFrame, *, max_basket_size: int, min_pair_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, n_ab) for both orders of every frequent pair (int64 arrays)."""
    held = lines.select("order_idx", "item_idx").distinct()
    sizes = held.groupBy("order_idx").agg(F.count("*").alias("size"))
    mined = held.join(sizes.where(F.col("size") <= max_basket_size), on="order_idx").select(
        "order_idx", "item_idx"
    )
    left, right = mined.alias("left"), mined.alias("right")
    counts = (
        left.join(right, on="order_idx")
        .where(F.col("left.item_idx") < F.col("right.item_idx"))
        .groupBy(F.col("left.item_idx").alias("a"), F.col("right.item_idx").alias("b"))
        .agg(F.count("*").alias("n"))
        .where(F.col("n") >= min_pair_count)
    )
    collected = collect(counts)
    a = collected["a"].to_numpy().astype(np.int64)
    b = collected["b"].to_numpy().astype(np.int64)
    n = collected["n"].to_numpy().astype(np.int64)
    return np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([n, n])


def partners_on_spark(lines: DataFrame, baskets: Baskets, rules: RulesSettings) -> Partners:
    """copurchase.mine_partners, with n_ab counted by Spark instead of B.T @ B."""
    rows, cols, counts = pair_counts(
        lines, max_basket_size=rules.max_basket_size, min_pair_count=rules.min_pair_count
    )
    expected = expected_counts(baskets, rows, cols, rules.size_buckets)
    return rank_partners(
        rows,
        cols,
        counts,
        expected,
        item_orders=baskets.item_orders,
        top_k=rules.top_k,
        chance_discount=rules.chance_discount,
    )
