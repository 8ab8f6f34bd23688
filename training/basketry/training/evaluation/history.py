"""Baskets of a history indexed once for the baselines: ids and a baskets x items matrix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.sparse import csr_matrix

from basketry.training.evaluation.protocols import order_times

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BasketHistory:
    """Baskets (de-duplicated orders) grouped by customer, oldest first.

    `baskets` is binary baskets x items; basket b belongs to `basket_customer[b]` and is
    that customer's `basket_position[b]`-th basket (0 = oldest) of `basket_count[customer]`.
    Customer and item ids are sorted, so indices do not depend on input row order.
    """

    customer_ids: tuple[str, ...]
    customer_index: Mapping[str, int]
    item_ids: tuple[str, ...]
    baskets: csr_matrix
    basket_customer: I64
    basket_position: I64
    basket_count: I64

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def membership(self, weights: npt.NDArray[np.float64] | None = None) -> csr_matrix:
        """customers x baskets: entry (c, b) = weight of basket b (1 by default) if c owns b."""
        n_baskets = self.basket_customer.shape[0]
        values = np.ones(n_baskets) if weights is None else weights
        return csr_matrix(
            (values, (self.basket_customer, np.arange(n_baskets))),
            shape=(self.n_customers, n_baskets),
        )

    def basket_frequency(self) -> csr_matrix:
        """customers x items: in how many of the customer's baskets each item appears."""
        return (self.membership() @ self.baskets).tocsr()

    def rows_of(self, customers: Iterable[str]) -> I64:
        """Each customer's row, -1 for customers without history."""
        return np.array([self.customer_index.get(c, -1) for c in customers], dtype=np.int64)

    def bought(self) -> dict[str, frozenset[str]]:
        """Each customer's distinct history items."""
        frequency = self.basket_frequency()
        items = np.asarray(self.item_ids, dtype=object)
        return {
            customer: frozenset(items[frequency.indices[start:end]].tolist())
            for customer, start, end in zip(
                self.customer_ids, frequency.indptr[:-1], frequency.indptr[1:], strict=True
            )
        }


def basket_history(history: pl.DataFrame) -> BasketHistory:
    """Index `history` (clean order lines); items de-duplicated within each order."""
    orders = order_times(history).sort(["customer_id", "ts", "order_id"])
    customer_ids = orders["customer_id"].unique().sort()
    item_ids = history["item_id"].unique().sort()
    orders = orders.with_columns(
        basket=pl.int_range(pl.len(), dtype=pl.Int64),
        customer=pl.col("customer_id").cast(pl.Enum(customer_ids)).to_physical().cast(pl.Int64),
        position=pl.int_range(pl.len(), dtype=pl.Int64).over("customer_id"),
    )
    cells = (
        history.select("order_id", "item_id")
        .unique()
        .join(orders.select("order_id", "basket"), on="order_id")
        .with_columns(item=pl.col("item_id").cast(pl.Enum(item_ids)).to_physical().cast(pl.Int64))
    )
    baskets = csr_matrix(
        (
            np.ones(cells.height, dtype=np.float32),
            (cells["basket"].to_numpy(), cells["item"].to_numpy()),
        ),
        shape=(orders.height, item_ids.len()),
    )
    basket_customer = orders["customer"].to_numpy()
    return BasketHistory(
        customer_ids=tuple(customer_ids.to_list()),
        customer_index={customer: i for i, customer in enumerate(customer_ids.to_list())},
        item_ids=tuple(item_ids.to_list()),
        baskets=baskets,
        basket_customer=basket_customer,
        basket_position=orders["position"].to_numpy(),
        basket_count=np.bincount(basket_customer, minlength=customer_ids.len()).astype(np.int64),
    )
