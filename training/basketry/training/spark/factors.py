"""Customer and item factors with MLlib's ALS (implicit preferences), on the same confidences.

How the two solvers take confidence (Hu, Koren & Volinsky: minimise
sum over all cells c_ui (p_ui - x_u . y_i)^2 + regularization, p_ui = 1 where observed):
- implicit (the local engine) uses an observed cell's value v as c_ui = alpha_implicit * v,
  unobserved cells c = 1; we pass the full confidence C and leave alpha_implicit = 1.
- MLlib uses c_ui = 1 + alpha_mllib * |r_ui| for a rating r_ui, unobserved cells c = 1.
So we pass r_ui = C - 1 (> 0 for every observed cell, since C > 1) with alpha_mllib = 1:
MLlib's c_ui = 1 + (C - 1) = C, the very value implicit sees and the snapshot stores
(exact in floating point: C - 1 is exact for a float32 C >= 1).

Regularization is where the objectives still differ: implicit adds lambda * |x|^2 per row,
MLlib adds lambda * n * |x|^2, n = the row's observed cells (ALS-WR scaling). No single
MLlib regParam gives implicit's penalty on every row, so we pass lambda / (mean observed
cells per row, over customers and items): the penalty of a row of typical length matches.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession

from basketry.training.als import AlsSettings
from basketry.training.matrices import History
from basketry.training.spark.lines import collect


def mllib_reg_param(regularization: float, history: History, n_items: int) -> float:
    """implicit's lambda as an ALS-WR regParam: divided by the mean row length."""
    n_customers = history.indptr.shape[0] - 1
    rows = n_customers + n_items
    mean_length = 2.0 * history.items.shape[0] / rows if rows else 1.0
    return regularization / max(mean_length, 1.0)


def fit_factors_on_spark(
    session: SparkSession, history: History, n_items: int, settings: AlsSettings
) -> tuple[np.ndarray, np.ndarray]:
    """(customer_factors, item_factors), C-contiguous float32, rows in index order."""
    n_customers = history.indptr.shape[0] - 1
    ratings = _ratings(session, history)
    # One block per task slot: MLlib's default of 10 blocks per side only adds shuffle and
    # task overhead on a small master, and a cluster's parallelism is the natural split.
    blocks = max(1, session.sparkContext.defaultParallelism)
    als = ALS(
        rank=settings.factors,
        maxIter=settings.iterations,
        regParam=mllib_reg_param(settings.regularization, history, n_items),
        implicitPrefs=True,
        alpha=1.0,
        seed=settings.seed,
        userCol="customer_idx",
        itemCol="item_idx",
        ratingCol="rating",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )
    model = als.fit(ratings)
    return (
        _factor_matrix(model.userFactors, n_customers, settings.factors),
        _factor_matrix(model.itemFactors, n_items, settings.factors),
    )


def _ratings(session: SparkSession, history: History) -> DataFrame:
    customers = np.repeat(
        np.arange(history.indptr.shape[0] - 1, dtype=np.int32), np.diff(history.indptr)
    )
    table = pa.table(
        {
            "customer_idx": customers,
            "item_idx": history.items,
            # MLlib's confidence is 1 + alpha * rating: see the module docstring.
            "rating": history.confidence - np.float32(1.0),
        }
    )
    return session.createDataFrame(table)


def _factor_matrix(frame: DataFrame, n_rows: int, n_factors: int) -> np.ndarray:
    collected = collect(frame)
    ids = collected["id"].to_numpy()
    # Flattened in row order: one row of n_factors per id.
    features = collected["features"].explode().to_numpy().astype(np.float32)
    matrix = np.zeros((n_rows, n_factors), dtype=np.float32)
    matrix[ids] = features.reshape(ids.shape[0], n_factors)
    return np.ascontiguousarray(matrix)
