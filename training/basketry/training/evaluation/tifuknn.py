"""TIFU-KNN (Hu et al., SIGIR 2020), written from the description in the quality note.

A customer with baskets b_1..b_n (oldest first) is one vector over items:
- basket i is its binary vector times rb^(n - i) (recent baskets weigh more);
- the n baskets are cut, in order, into m_c = min(m, n) groups: the first groups hold
  floor(n / m_c) baskets, the last (n mod m_c) groups one more (as the authors' code does);
- each group is the mean of its decayed baskets; the customer vector is
  sum over groups g = 0..m_c-1 of rg^(m_c - 1 - g) x group_g / m_c.
(The authors' code raises rg to m - 1 - g even when a customer has fewer than m baskets;
here the newest group always gets rg^0.) The neighbour vector is the mean of the k nearest
other customers' vectors (Euclidean), and score = alpha x own + (1 - alpha) x neighbours.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import product

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from basketry.training.evaluation.baselines import Ranked, block_rows
from basketry.training.evaluation.history import BasketHistory, basket_history
from basketry.training.evaluation.metrics import recall_at
from basketry.training.evaluation.protocols import Split

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TifuSettings:
    neighbours: int  # k
    basket_decay: float  # rb
    group_decay: float  # rg
    alpha: float
    groups: int  # m

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


PUBLISHED: dict[str, TifuSettings] = {
    "TaFeng": TifuSettings(300, 0.9, 0.7, 0.7, 7),
    "Dunnhumby": TifuSettings(900, 0.9, 0.6, 0.2, 3),
    "Instacart": TifuSettings(900, 0.9, 0.7, 0.9, 3),
    "ValuedShopper": TifuSettings(300, 1.0, 0.6, 0.7, 7),
}


def tuning_grid() -> list[TifuSettings]:
    """The published settings plus a small grid around them (76 settings)."""
    grid = [
        TifuSettings(k, rb, rg, alpha, m)
        for rb, rg, m, k, alpha in product(
            (0.9, 1.0), (0.6, 0.8), (3, 7), (50, 100, 300), (0.5, 0.7, 0.9)
        )
    ]
    return list(PUBLISHED.values()) + grid


def customer_vectors(
    history: BasketHistory, *, basket_decay: float, group_decay: float, groups: int
) -> csr_matrix:
    """customers x items TIFU vectors (see the module docstring)."""
    n = history.basket_count[history.basket_customer]
    position = history.basket_position
    group_count = np.minimum(groups, n)
    base, extra = n // group_count, n % group_count
    short_groups = group_count - extra  # the first groups, `base` baskets each
    boundary = short_groups * base
    group = np.where(
        position < boundary,
        position // np.maximum(base, 1),
        short_groups + (position - boundary) // (base + 1),
    )
    group_size = np.where(position < boundary, base, base + 1)
    weights = (
        np.power(basket_decay, n - 1 - position)
        / group_size
        * np.power(group_decay, group_count - 1 - group)
        / group_count
    )
    return (history.membership(weights.astype(np.float64)) @ history.baskets).tocsr()


def nearest_neighbours(vectors: csr_matrix, rows: I64, count: int) -> I64:
    """For each query row (>= 0), its `count` nearest other customers, nearest first.

    Distances are computed for a block of queries at a time (memory bounded).
    """
    count = min(count, vectors.shape[0] - 1)
    if count <= 0:
        return np.zeros((rows.shape[0], 0), dtype=np.int64)
    squared = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    step = block_rows(vectors.shape[0])
    blocks = []
    for start in range(0, rows.shape[0], step):
        own = np.maximum(rows[start : start + step], 0)
        distance = np.asarray(
            squared[own, None] + squared[None, :] - 2 * (vectors[own] @ vectors.T)
        )
        distance[np.arange(own.shape[0]), own] = np.inf  # never oneself
        nearest = np.argpartition(distance, count - 1, axis=1)[:, :count]
        order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1, kind="stable")
        blocks.append(np.take_along_axis(nearest, order, axis=1).astype(np.int64))
    return np.concatenate(blocks) if blocks else np.zeros((0, count), dtype=np.int64)


def own_vectors(vectors: csr_matrix, rows: I64) -> npt.NDArray[np.float64]:
    """Each query's own vector, dense (zeros for customers without history)."""
    return np.asarray(vectors[np.maximum(rows, 0)].toarray()) * (rows >= 0)[:, None]


def neighbour_mean(by_item: csr_matrix, rows: I64, neighbours: I64) -> npt.NDArray[np.float64]:
    """The mean of each query's neighbours' vectors, dense (zeros for unknown customers).

    `by_item` is the items x customers transpose of the vectors. Multiplying it by a dense
    customers x queries averaging matrix costs the same for any k, and sums each cell
    over customers in index order, the order a sparse averaging product would use.
    """
    n_queries, k = neighbours.shape
    if k == 0:
        return np.zeros((n_queries, by_item.shape[0]))
    averaging = np.zeros((by_item.shape[1], n_queries))
    averaging[neighbours.ravel(), np.repeat(np.arange(n_queries), k)] = 1.0 / k
    averaging[:, rows < 0] = 0.0
    return np.ascontiguousarray((by_item @ averaging).T)


def tifu_knn(
    history: BasketHistory, customers: Sequence[str], k: int, settings: TifuSettings
) -> Ranked:
    """TIFU-KNN picks for `customers` (customers without history get none)."""
    return next(_ranked_for(history, customers, k, [settings]))[1]


@dataclass(frozen=True)
class TifuTuning:
    """The best setting on the validation split and every setting's score there."""

    best: TifuSettings
    metric: str
    scores: list[dict[str, float | int]]


def tune_on_validation(validation: Split, k: int, grid: Sequence[TifuSettings]) -> TifuTuning:
    """Pick the setting with the best Recall@k on the validation split (first one wins ties)."""
    history = basket_history(validation.history)
    customers = sorted(validation.test)
    metric = f"recall@{k}"
    scores: list[dict[str, float | int]] = []
    best: tuple[float, TifuSettings] | None = None
    for settings, ranked in ranked_for_grid(history, customers, k, grid):
        value = sum(recall_at(ranked[c], validation.test[c], k) for c in customers) / len(customers)
        scores.append({**settings.as_dict(), metric: value})
        if best is None or value > best[0]:
            best = (value, settings)
    if best is None:
        raise ValueError("the TIFU-KNN grid is empty")
    return TifuTuning(best=best[1], metric=metric, scores=scores)


def ranked_for_grid(
    history: BasketHistory, customers: Sequence[str], k: int, grid: Sequence[TifuSettings]
) -> Iterator[tuple[TifuSettings, Ranked]]:
    """Picks for every setting of `grid`, sharing vectors and neighbours where settings agree."""
    return _ranked_for(history, customers, k, grid)


def _ranked_for(
    history: BasketHistory, customers: Sequence[str], k: int, grid: Sequence[TifuSettings]
) -> Iterator[tuple[TifuSettings, Ranked]]:
    # Vectors depend on (rb, rg, m) only, neighbour means on the vectors and k, and alpha
    # only blends the two: each is computed once and every alpha is ranked from it.
    rows = history.rows_of(customers)
    by_vectors: dict[tuple[float, float, int], dict[int, list[TifuSettings]]] = {}
    for settings in grid:
        key = (settings.basket_decay, settings.group_decay, settings.groups)
        by_vectors.setdefault(key, {}).setdefault(settings.neighbours, []).append(settings)
    for (basket_decay, group_decay, groups), by_count in by_vectors.items():
        vectors = customer_vectors(
            history, basket_decay=basket_decay, group_decay=group_decay, groups=groups
        )
        nearest = nearest_neighbours(vectors, rows, max(by_count))
        by_item = vectors.T.tocsr()
        ranked: dict[TifuSettings, Ranked] = {s: {} for m in by_count.values() for s in m}
        # Small blocks keep the dense queries x items blocks in cache and memory bounded.
        step = max(1, block_rows(history.n_items) // 4)
        for start in range(0, len(customers), step):
            block = slice(start, start + step)
            own = own_vectors(vectors, rows[block])
            for count, members in by_count.items():
                mean = neighbour_mean(by_item, rows[block], nearest[block, :count])
                candidates = _candidates(own, mean, k)
                for settings in members:
                    ranked[settings] |= _ranked_candidates(
                        history, customers[block], own, mean, candidates, k, settings.alpha
                    )
        for members in by_count.values():
            for settings in members:
                yield settings, ranked[settings]


def _candidates(
    own: npt.NDArray[np.float64], neighbour_mean: npt.NDArray[np.float64], k: int
) -> tuple[I64, I64]:
    """(row, column) of every cell that can be among its row's k best, for any alpha < 1.

    score = alpha x own + (1 - alpha) x mean with both terms >= 0: a cell the customer
    never bought scores (1 - alpha) x mean, so it can only reach the top k if its mean is
    among the k best means of the row. The margin keeps cells whose mean differs from the
    k-th by less than the rounding of (1 - alpha) x mean (they could tie after it).
    """
    n_items = neighbour_mean.shape[1]
    depth = min(k, n_items)
    if depth == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    kth = np.partition(neighbour_mean, n_items - depth, axis=1)[:, n_items - depth]
    threshold = kth * (1.0 - 1e-9)
    near_top = (neighbour_mean > 0) & (neighbour_mean >= threshold[:, None])
    row, column = np.nonzero(near_top | (own > 0))
    return row.astype(np.int64), column.astype(np.int64)


def _ranked_candidates(
    history: BasketHistory,
    customers: Sequence[str],
    own: npt.NDArray[np.float64],
    neighbour_mean: npt.NDArray[np.float64],
    candidates: tuple[I64, I64],
    k: int,
    alpha: float,
) -> Ranked:
    """Each row's k best positive candidates by alpha-blended score, ties by lower column.

    The same picks ranked_ids() would make on the dense blended scores.
    """
    row, column = candidates
    scores = alpha * own[row, column] + (1.0 - alpha) * neighbour_mean[row, column]
    order = np.lexsort((column, -scores, row))
    row, column, scores = row[order], column[order], scores[order]
    row_start = np.searchsorted(row, np.arange(len(customers)))
    rank = np.arange(row.shape[0]) - row_start[row]
    keep = (rank < k) & (scores > 0)
    items = np.asarray(history.item_ids, dtype=object)
    bounds = np.searchsorted(row[keep], np.arange(len(customers) + 1))
    picked = items[column[keep]]
    return {
        customer: picked[bounds[i] : bounds[i + 1]].tolist() for i, customer in enumerate(customers)
    }
