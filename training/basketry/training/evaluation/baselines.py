"""The simple baselines every model is reported beside (see the recommendation-quality note).

Each returns, for every requested customer, its ranked item ids (best first, at most k).
Scores are dense customers x items matrices (a block of customers at a time where the
catalogue is large); ties are broken by the lower item index, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, vstack

from basketry.training.evaluation.history import BasketHistory

Ranked = dict[str, list[str]]
Scores = npt.NDArray[np.float64] | npt.NDArray[np.float32]
ITEM_KNN_NEIGHBOURS = 100
# Rows per dense block (rows x items float64): about 64 MB, whatever the catalogue.
BLOCK_CELLS = 1 << 23


def ranked_ids(
    history: BasketHistory,
    customers: Sequence[str],
    scores: Scores,
    k: int,
    *,
    positive_only: bool = True,
) -> Ranked:
    """Top k items of each score row (row i belongs to customers[i]), as item ids."""
    items = np.asarray(history.item_ids, dtype=object)
    order = top_k_indices(scores, k)
    ranked: Ranked = {}
    for row, customer in enumerate(customers):
        chosen = order[row]
        if positive_only:
            chosen = chosen[scores[row, chosen] > 0]
        ranked[customer] = items[chosen].tolist()
    return ranked


def top_k_indices(scores: Scores, k: int) -> list[npt.NDArray[np.int64]]:
    """Per row, the k best columns, best first, equal scores by lower column index.

    A partition finds each row's k-th best score; only columns reaching it are sorted
    (all of them, so ties at the boundary resolve by index, not by partition order).
    """
    values = np.asarray(scores, dtype=np.float64)
    k = min(k, values.shape[1])
    if k == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(values.shape[0])]
    kth = -np.partition(-values, k - 1, axis=1)[:, k - 1]
    chosen = []
    for row in range(values.shape[0]):
        candidates = np.flatnonzero(values[row] >= kth[row])
        order = np.lexsort((candidates, -values[row, candidates]))[:k]
        chosen.append(candidates[order].astype(np.int64))
    return chosen


def global_frequency(history: BasketHistory) -> npt.NDArray[np.float64]:
    """Baskets holding each item, over every customer's history."""
    return np.asarray(history.baskets.sum(axis=0), dtype=np.float64).ravel()


def g_topfreq(history: BasketHistory, customers: Sequence[str], k: int) -> Ranked:
    """G-TopFreq: the same best-sellers for everyone."""
    best = ranked_ids(history, ["*"], global_frequency(history)[None, :], k)["*"]
    return {customer: list(best) for customer in customers}


def p_topfreq(history: BasketHistory, customers: Sequence[str], k: int) -> Ranked:
    """P-TopFreq: the customer's own items by how many of their baskets held them.

    Ties go to the globally more frequent item; customers without history get nothing.
    """
    frequency = _rows(history.basket_frequency(), history.rows_of(customers)).toarray()
    glob = global_frequency(history)
    # Counts are whole numbers, so adding a global share below 1 only breaks ties.
    tie_break = glob / (glob.max() + 1.0) if glob.size else glob
    scores = np.where(frequency > 0, frequency + tie_break[None, :], 0.0)
    return ranked_ids(history, customers, scores, k)


def gp_topfreq(history: BasketHistory, customers: Sequence[str], k: int) -> Ranked:
    """GP-TopFreq: P-TopFreq, padded with G-TopFreq items not already listed."""
    personal = p_topfreq(history, customers, k)
    best = g_topfreq(history, ["*"], k + max((len(v) for v in personal.values()), default=0))
    padded: Ranked = {}
    for customer, own in personal.items():
        seen = set(own)
        padded[customer] = (own + [item for item in best["*"] if item not in seen])[:k]
    return padded


def item_knn(
    history: BasketHistory,
    customers: Sequence[str],
    k: int,
    *,
    neighbours: int = ITEM_KNN_NEIGHBOURS,
) -> Ranked:
    """Item-kNN: cosine similarity of items over the binary customers x items history.

    Each item keeps its `neighbours` most similar other items; a customer's score for an
    item is the sum of its similarities to the customer's items (bought items included).
    """
    bought = history.basket_frequency()
    bought.data[:] = 1.0
    similarity = item_neighbours(bought, neighbours)
    own = _rows(bought, history.rows_of(customers))
    ranked: Ranked = {}
    chosen = list(customers)
    step = block_rows(history.n_items)
    for start in range(0, len(chosen), step):
        scores = (own[start : start + step] @ similarity).toarray()
        ranked |= ranked_ids(history, chosen[start : start + step], scores, k)
    return ranked


def item_neighbours(bought: csr_matrix, neighbours: int) -> csr_matrix:
    """items x items cosine similarities, each row cut to its `neighbours` best other items.

    Rows are computed a block at a time, so memory stays bounded however large the
    catalogue; each row is cut exactly as a dense items x items matrix would be.
    """
    n_items = bought.shape[1]
    norms = np.sqrt(np.asarray(bought.sum(axis=0), dtype=np.float64).ravel())
    unit = bought.multiply(1.0 / np.maximum(norms, 1e-12)[None, :]).tocsc()
    by_item = unit.T.tocsr()
    by_customer = unit.tocsr()
    blocks = []
    step = block_rows(n_items)
    for start in range(0, n_items, step):
        block = (by_item[start : start + step] @ by_customer).toarray()
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = 0.0  # an item is not its own neighbour
        if neighbours < n_items:
            kept = np.argpartition(-block, neighbours - 1, axis=1)[:, :neighbours]
        else:
            kept = np.broadcast_to(np.arange(n_items), block.shape)
        values = np.take_along_axis(block, kept, axis=1)
        blocks.append(
            csr_matrix(
                (values.ravel(), (np.repeat(rows, kept.shape[1]), kept.ravel())),
                shape=block.shape,
            )
        )
    if not blocks:
        return csr_matrix((n_items, n_items))
    similarity = vstack(blocks, format="csr")
    similarity.eliminate_zeros()
    return similarity


def als_alone(
    customer_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    item_ids: Sequence[str],
    customers: Sequence[str],
    k: int,
) -> Ranked:
    """ALS alone: u . V over every item (no filter of bought items), from a model's factors.

    `rows` maps each customer to its factor row (-1: unknown, no picks); `item_ids` names
    the factor rows of the items.
    """
    known = rows >= 0
    scores = customer_factors[np.where(known, rows, 0)] @ item_factors.T
    order = top_k_indices(scores, k)
    names = np.asarray(item_ids, dtype=object)
    return {
        customer: names[order[row]].tolist() if known[row] else []
        for row, customer in enumerate(customers)
    }


def _rows(matrix: csr_matrix, rows: npt.NDArray[np.int64]) -> csr_matrix:
    """The given rows of a CSR matrix; a row index of -1 gives an all-zero row."""
    selector = csr_matrix(
        (np.ones(int((rows >= 0).sum())), (np.flatnonzero(rows >= 0), rows[rows >= 0])),
        shape=(rows.shape[0], matrix.shape[0]),
    )
    return (selector @ matrix).tocsr()


def block_rows(n_columns: int) -> int:
    """Rows of a dense block of about BLOCK_CELLS cells."""
    return max(1, BLOCK_CELLS // max(n_columns, 1))
