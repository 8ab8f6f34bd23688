"""Block-wise item-kNN and TIFU-KNN give exactly the rankings of their dense definitions."""

from __future__ import annotations

import numpy as np
import pytest
from frames import clean_lines

from basketry.training.evaluation import baselines
from basketry.training.evaluation.baselines import Ranked, item_knn, ranked_ids
from basketry.training.evaluation.history import BasketHistory, basket_history
from basketry.training.evaluation.tifuknn import (
    TifuSettings,
    customer_vectors,
    nearest_neighbours,
    ranked_for_grid,
)


def random_history(seed: int) -> BasketHistory:
    # Few items and small baskets: many customers share items, so scores tie often.
    rng = np.random.default_rng(seed)
    orders = [
        (f"o{c}-{b}", f"c{c}", b, " ".join(f"i{i}" for i in rng.choice(12, 3, replace=False)))
        for c in range(30)
        for b in range(int(rng.integers(1, 6)))
    ]
    return basket_history(clean_lines(orders))


def dense_item_knn(history: BasketHistory, customers: list[str], k: int, keep: int) -> Ranked:
    """The dense items x items definition (what item_knn computed before it was blocked)."""
    bought = history.basket_frequency()
    bought.data[:] = 1.0
    norms = np.sqrt(np.asarray(bought.sum(axis=0), dtype=np.float64).ravel())
    unit = bought.multiply(1.0 / np.maximum(norms, 1e-12)[None, :]).tocsc()
    similarity = (unit.T @ unit).toarray()
    np.fill_diagonal(similarity, 0.0)
    if keep < history.n_items:
        cut = np.argpartition(-similarity, keep - 1, axis=1)[:, keep:]
        np.put_along_axis(similarity, cut, 0.0, axis=1)
    own = bought.tocsr()[history.rows_of(customers)]
    return ranked_ids(history, customers, np.asarray(own @ similarity), k)


def dense_tifu(history: BasketHistory, customers: list[str], k: int, s: TifuSettings) -> Ranked:
    """TIFU-KNN scored on dense customers x items matrices, ranked by ranked_ids()."""
    vectors = customer_vectors(
        history, basket_decay=s.basket_decay, group_decay=s.group_decay, groups=s.groups
    )
    rows = history.rows_of(customers)
    dense = vectors.toarray()
    nearest = nearest_neighbours(vectors, rows, s.neighbours)
    own = dense[rows]
    mean = np.zeros_like(own)
    for j in np.sort(nearest, axis=1).T:  # sum in customer index order, as the product does
        mean += (1.0 / nearest.shape[1]) * dense[j]
    scores = (s.alpha * own + (1.0 - s.alpha) * mean) * (rows >= 0)[:, None]
    return ranked_ids(history, customers, scores, k)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("keep", [1, 3, 100])
def test_item_knn_in_blocks_matches_the_dense_matrix(
    seed: int, keep: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(seed)
    customers = list(history.customer_ids)
    expected = dense_item_knn(history, customers, 8, keep)
    # Blocks of two rows: every block boundary and the diagonal offset get exercised.
    monkeypatch.setattr(baselines, "BLOCK_CELLS", 2 * history.n_items)
    assert item_knn(history, customers, 8, neighbours=keep) == expected


@pytest.mark.parametrize("seed", [1, 2])
def test_tifu_grid_in_blocks_matches_the_dense_scores(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(seed)
    customers = [*history.customer_ids, "unknown"]
    grid = [
        TifuSettings(n, rb, 0.7, alpha, m)
        for n in (1, 4, 50)
        for rb, m in ((0.9, 2), (1.0, 3))
        for alpha in (0.0, 0.3, 0.9, 1.0)
    ]
    monkeypatch.setattr(baselines, "BLOCK_CELLS", 8 * history.n_items)
    for settings, ranked in ranked_for_grid(history, customers, 4, grid):
        assert ranked == dense_tifu(history, customers, 4, settings), settings
        assert ranked["unknown"] == []
