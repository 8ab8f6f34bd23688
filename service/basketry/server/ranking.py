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


def top_k_rows(
    scores: npt.NDArray[np.floating], eligible: npt.NDArray[np.bool_], k: int
) -> list[IndexArray]:
    """top_k for every row of a matrix at once (one argpartition for all rows).

    Same answers as calling top_k per row, ties included.
    """
    n_rows, n_columns = scores.shape
    if k <= 0 or n_columns == 0:
        return [np.empty(0, dtype=np.int64) for _ in range(n_rows)]
    masked = np.where(eligible, scores, -np.inf)
    if n_columns > k:
        part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_columns), (n_rows, n_columns))
    part_scores = np.take_along_axis(masked, part, axis=1)
    kth = part_scores.min(axis=1, keepdims=True)
    # A row with an entry tied with its k-th best left outside the partition may break the
    # lower-index rule; such rows are rare and get ranked one by one.
    ties_outside = (masked == kth).sum(axis=1) > (part_scores == kth).sum(axis=1)
    ranked: list[IndexArray] = []
    for row in range(n_rows):
        if ties_outside[row] and np.isfinite(kth[row, 0]):
            ranked.append(top_k(scores[row], eligible[row], k))
            continue
        keep = np.isfinite(part_scores[row])
        candidates, candidate_scores = part[row][keep], part_scores[row][keep]
        ranked.append(candidates[np.lexsort((candidates, -candidate_scores))].astype(np.int64))
    return ranked
