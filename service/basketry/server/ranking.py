"""Top-k selection over score vectors: exact, deterministic, never a masked-out entry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.int64]


def top_k(scores: npt.NDArray[np.floating], eligible: npt.NDArray[np.bool_], k: int) -> IndexArray:
    """Indices of the k best eligible entries, best first; ties go to the lower index.

    Returns fewer than k indices when fewer entries are eligible.
    """
    candidates = np.flatnonzero(eligible)
    if k <= 0 or candidates.size == 0:
        return np.empty(0, dtype=np.int64)
    candidate_scores = scores[candidates]
    if candidates.size > k:
        # argpartition finds the k best in linear time; only those get fully sorted.
        best = np.argpartition(-candidate_scores, k - 1)[:k]
        kth = candidate_scores[best].min()
        # Entries tied with the k-th score may sit outside the partition: include them all
        # so the lower-index tie-break below is exact.
        best = np.flatnonzero(candidate_scores >= kth)
        candidates, candidate_scores = candidates[best], candidate_scores[best]
    order = np.lexsort((candidates, -candidate_scores))[:k]
    return candidates[order].astype(np.int64, copy=False)


# top_k_positive_rows sorts all positive entries when they are at most 1/SPARSE_SHARE of the
# matrix and at most MANY_CANDIDATES per row on average; otherwise it partitions first.
SPARSE_SHARE = 8
MANY_CANDIDATES = 4096


def top_k_positive_rows(scores: npt.NDArray[np.floating], k: int) -> tuple[IndexArray, IndexArray]:
    """The k largest positive entries of every row of a matrix, as (rows, columns) index
    arrays: grouped by row in row order, best first within a row, ties to the lower column.

    The same picks as top_k(scores[r], scores[r] > 0, k) for every row r (a row with fewer
    than k positive entries gives them all), without a Python step per row: one partition
    finds each row's k-th largest value, every entry at least that large (ties included)
    is a candidate, and one sort over the few candidates orders them all.
    """
    n_rows, n_columns = scores.shape
    if k <= 0 or n_columns == 0 or n_rows == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    positive = np.flatnonzero(scores > 0)
    if positive.size * SPARSE_SHARE > scores.size or positive.size > n_rows * MANY_CANDIDATES:
        # Many positive entries: one partition per row finds each row's k-th largest value,
        # and only entries at least that large (ties included) are sorted.
        # The smallest positive value: `>= floor` is `> 0`, merged into the k-th value test.
        floor = np.nextafter(scores.dtype.type(0), scores.dtype.type(1))
        if n_columns > k:
            kth = np.partition(scores, n_columns - k, axis=1)[:, n_columns - k]
            threshold = np.maximum(kth, floor)[:, None]
        else:
            threshold = np.full((n_rows, 1), floor, dtype=scores.dtype)
        flat = np.flatnonzero(scores >= threshold)
    else:
        # Few (a customer's candidates in a large catalogue): sorting them all is cheaper
        # than partitioning every row (100k items: 1.6 ms for the partition alone).
        flat = positive
    rows, columns = np.divmod(flat, n_columns)
    order = np.lexsort((columns, -scores.ravel()[flat], rows))
    rows, columns = rows[order], columns[order]
    # Ties with a row's k-th value can make more than k candidates: keep each row's first k.
    counts = np.bincount(rows, minlength=n_rows)
    rank_in_row = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank_in_row < k
    return rows[keep].astype(np.int64, copy=False), columns[keep].astype(np.int64, copy=False)
