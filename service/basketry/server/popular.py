"""Popularity picks: the fallback for cold customers, unknown items and thin answers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from basketry.server.model import ServingModel


def popular_items(
    model: ServingModel, eligible: npt.NDArray[np.bool_], count: int
) -> npt.NDArray[np.int64]:
    """The `count` most bought eligible items (distinct buyers), most first.

    With a category filter in `eligible` this is the per-category popularity.
    """
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    order = model.popularity_order
    return order[eligible[order]][:count]


def popular_scores(
    model: ServingModel, items: npt.NDArray[np.int64], ceiling: float
) -> list[float]:
    """Scores for popularity picks that rank below `ceiling` (the last personal score)."""
    return [float(ceiling * model.popularity[item]) for item in items.tolist()]
