"""Top-k through a vector index: candidates from the index, exact scores and ranking on them.

The index proposes the rows nearest a query; those are scored exactly (the same formula
the exact path uses over every row) and ranked with basketry.server.ranking.top_k, so an
answer with the index equals the exact answer whenever the index found the true top k.
The index knows nothing of filters, so it is asked for more candidates than needed and
asked again for more when too few of them are eligible; past MAX_CANDIDATES (a filter
that leaves a small fraction of the rows) the caller ranks exactly instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from basketry.server.ranking import top_k
from basketry.snapshot.vector_index import VectorIndex

I64 = npt.NDArray[np.int64]
Scores = npt.NDArray[np.floating]

# Sides (items, customers) with at least this many rows use the snapshot's vector indexes
# for top-k (when it holds them): below it exact top-k takes well under a millisecond.
# Measured in bench/ann_recall.py; the server setting ann_min_rows defaults to it.
ANN_MIN_ROWS = 50_000
OVERSAMPLE = 4  # candidates asked per answer wanted
MIN_CANDIDATES = 64
MAX_CANDIDATES = 4096


def indexed_top_k(
    index: VectorIndex,
    query: npt.NDArray[np.float32],
    eligible: npt.NDArray[np.bool_],
    k: int,
    score: Callable[[I64], Scores],
) -> I64 | None:
    """The k best eligible rows among the index's candidates for `query`, best first
    (ties to the lower row); None when the index cannot find k eligible candidates within
    MAX_CANDIDATES while more eligible rows exist (rank exactly then)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    count = max(MIN_CANDIDATES, OVERSAMPLE * k)
    while True:
        found = index.nearest(query[None, :], min(count, index.size))[0]
        candidates = np.sort(found[eligible[found]])  # ascending: ties go to the lower row
        if candidates.size >= k or count >= index.size:
            break
        if count >= MAX_CANDIDATES:
            return None
        count *= 4
    if candidates.size < k and candidates.size < int(np.count_nonzero(eligible)):
        return None  # eligible rows the index does not hold (none should exist): be exact
    chosen = top_k(score(candidates), np.ones(candidates.size, dtype=np.bool_), k)
    return candidates[chosen]
