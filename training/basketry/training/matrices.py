"""Id indexes and the customers x items purchase history (CSR) that ALS trains on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import csr_matrix

from basketry.training.confidence import confidence


@dataclass(frozen=True)
class IndexedLines:
    """Clean order lines with integer customer_idx, item_idx and order_idx columns.

    Indexes follow the sorted ids, so the same input always gives the same snapshot.
    """

    lines: pl.DataFrame
    customer_ids: np.ndarray  # fixed-width unicode, position = customer_idx
    item_ids: np.ndarray  # fixed-width unicode, position = item_idx
    order_count: int


@dataclass(frozen=True)
class History:
    """Per customer-item cell, CSR by customer with sorted item columns."""

    indptr: np.ndarray  # int64, customers + 1
    items: np.ndarray  # int32
    orders: np.ndarray  # int32, distinct orders holding the item
    quantity: np.ndarray  # float32, total units
    last_ts: np.ndarray  # int64, last purchase (unix seconds)
    confidence: np.ndarray  # float32, ALS confidence

    def confidence_matrix(self, n_items: int) -> csr_matrix:
        """customers x items float32 csr_matrix (implicit rejects csr_array)."""
        n_customers = self.indptr.shape[0] - 1
        return csr_matrix(
            (self.confidence, self.items, self.indptr),
            shape=(n_customers, n_items),
            dtype=np.float32,
        )


def index_lines(lines: pl.DataFrame) -> IndexedLines:
    """Add dense 0-based indexes over the sorted customer, item and order ids."""
    indexed = lines.with_columns(
        (pl.col(name).rank("dense") - 1).cast(pl.Int32).alias(f"{prefix}_idx")
        for name, prefix in (
            ("customer_id", "customer"),
            ("item_id", "item"),
            ("order_id", "order"),
        )
    )
    return IndexedLines(
        lines=indexed,
        customer_ids=_sorted_unique(lines["customer_id"]),
        item_ids=_sorted_unique(lines["item_id"]),
        order_count=int(lines["order_id"].n_unique()),
    )


def build_history(indexed: IndexedLines, *, alpha: float) -> History:
    """Aggregate lines per customer-item: distinct orders, units, last purchase, confidence."""
    cells = (
        indexed.lines.group_by("customer_idx", "item_idx")
        .agg(
            pl.col("order_idx").n_unique().alias("orders"),
            pl.col("quantity").sum().alias("quantity"),
            pl.col("ts").max().alias("last_ts"),
        )
        .sort("customer_idx", "item_idx")
    )
    n_customers = indexed.customer_ids.shape[0]
    rows = cells["customer_idx"].to_numpy()
    indptr = np.zeros(n_customers + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_customers), out=indptr[1:])
    orders = cells["orders"].to_numpy().astype(np.int32)
    quantity = cells["quantity"].to_numpy()
    return History(
        indptr=indptr,
        items=cells["item_idx"].to_numpy().astype(np.int32),
        orders=orders,
        quantity=quantity.astype(np.float32),
        last_ts=cells["last_ts"].to_numpy().astype(np.int64),
        confidence=confidence(orders, quantity, alpha),
    )


def _sorted_unique(column: pl.Series) -> np.ndarray:
    values = column.unique().sort().to_list()
    # Fixed-width unicode, never object arrays (the snapshot refuses pickle).
    return np.array(values, dtype=str) if values else np.array([], dtype="<U1")
