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

from basketry.training.evaluation.baselines import Ranked, ranked_ids
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
    """For each query row (>= 0), its `count` nearest other customers, nearest first."""
    squared = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    query = vectors[np.maximum(rows, 0)]
    distance = squared[np.maximum(rows, 0), None] + squared[None, :] - 2 * (query @ vectors.T)
    distance = np.asarray(distance)
    distance[np.arange(rows.shape[0]), np.maximum(rows, 0)] = np.inf  # never oneself
    count = min(count, vectors.shape[0] - 1)
    nearest = np.argpartition(distance, count - 1, axis=1)[:, :count] if count > 0 else None
    if nearest is None:
        return np.zeros((rows.shape[0], 0), dtype=np.int64)
    order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1, kind="stable")
    return np.take_along_axis(nearest, order, axis=1).astype(np.int64)


def own_and_neighbour_mean(
    vectors: csr_matrix, rows: I64, neighbours: I64
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each query's own vector and the mean of its neighbours' vectors (zeros if unknown)."""
    n_queries, k = neighbours.shape
    known = (rows >= 0)[:, None]
    own = np.asarray(vectors[np.maximum(rows, 0)].toarray()) * known
    if k == 0:
        return own, np.zeros_like(own)
    averaging = csr_matrix(
        (np.full(n_queries * k, 1.0 / k), (np.repeat(np.arange(n_queries), k), neighbours.ravel())),
        shape=(n_queries, vectors.shape[0]),
    )
    return own, np.asarray((averaging @ vectors).toarray()) * known


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
        for count, members in by_count.items():
            own, neighbour_mean = own_and_neighbour_mean(vectors, rows, nearest[:, :count])
            for settings in members:
                scores = settings.alpha * own + (1.0 - settings.alpha) * neighbour_mean
                yield settings, ranked_ids(history, customers, scores, k)
