"""The arrays a snapshot carries for serving that follow from its other arrays.

A server used to compute these at every load (unit vectors, warm customers, the buyers
transpose of the history); at a million customers that cost seconds and private memory in
every server process. Training computes them once here, the snapshot stores them, and a
server memory-maps them like everything else. Tests that hand-make snapshots call
`serving_arrays` too, so there is one definition.

The vector indexes (basketry.snapshot.vector_index) are built only for a side with at
least `ann_min_rows` rows: below that, exact top-k is fast and the arrays stay empty.
Customer indexes only on request (`customer_indexes`): a graph over a million customers
costs several minutes of training on 2 cores per index, for RPCs (similar customers,
look-alike audiences) that exact top-k answers in tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from basketry.snapshot.vector_index import ANN_BUILD_MIN_ROWS, cosine_index, product_index

F32 = npt.NDArray[np.float32]
Bools = npt.NDArray[np.bool_]


def serving_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    ann_min_rows: int = ANN_BUILD_MIN_ROWS,
    customer_indexes: bool = False,
) -> dict[str, np.ndarray]:
    """The schema's derived arrays from the trained ones (which are not modified)."""
    history_indptr = arrays["history_indptr"]
    customer_unit, customer_nonzero = unit_rows(arrays["customer_factors"])
    item_unit, _ = unit_rows(arrays["item_factors"])
    n_items = int(arrays["item_ids"].shape[0])
    buyers_indptr, buyers_customers = transpose_csr(
        history_indptr, arrays["history_items"], n_items
    )
    customer_factors, item_factors = arrays["customer_factors"], arrays["item_factors"]
    build_items = n_items >= ann_min_rows
    build_customers = customer_indexes and customer_unit.shape[0] >= ann_min_rows
    return {
        "customer_unit": customer_unit,
        "customer_warm": customer_nonzero & (np.diff(history_indptr) > 0),
        "item_unit": item_unit,
        "buyers_indptr": buyers_indptr,
        "buyers_customers": buyers_customers,
        "item_cosine_index": cosine_index(item_unit) if build_items else _EMPTY,
        "item_product_index": product_index(item_factors) if build_items else _EMPTY,
        "customer_cosine_index": cosine_index(customer_unit) if build_customers else _EMPTY,
        "customer_product_index": product_index(customer_factors) if build_customers else _EMPTY,
    }


_EMPTY = np.zeros(0, dtype=np.uint8)


def unit_rows(factors: F32) -> tuple[F32, Bools]:
    """Each row scaled to length 1 (zero rows stay zero), and which rows are non-zero."""
    norms = np.linalg.norm(factors, axis=1)
    nonzero = norms > 0
    unit = np.zeros_like(factors)
    unit[nonzero] = factors[nonzero] / norms[nonzero, None]
    return unit, nonzero


def transpose_csr(
    indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int32], n_columns: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """The CSC view of a CSR pattern: for each column, its rows in ascending order."""
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int32), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    counts = np.bincount(indices, minlength=n_columns)
    column_indptr = np.zeros(n_columns + 1, dtype=np.int64)
    np.cumsum(counts, out=column_indptr[1:])
    return column_indptr, rows[order]
