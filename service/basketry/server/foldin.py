"""ALS fold-in: a customer's factor vector solved from their purchases, items held fixed.

This is the customer half-step of implicit-feedback ALS (Hu, Koren & Volinsky 2008), the
same system the training job's solver converges to for every customer:

    (YᵀY + λI + Σ_i (c_i - 1) y_i y_iᵀ) x = Σ_i c_i y_i

over the items i the customer bought (preference 1, confidence c_i; every other item has
preference 0 and confidence 1, which YᵀY accounts for). Y = the snapshot's item factors,
λ = `als.regularization`, c_i from basketry.snapshot.confidence with `als.alpha` and
`confidence.units_weight`. YᵀY is computed once per model, so a fold-in costs
O(bought items x F² + F³): ~0.1 ms at 64 factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.snapshot.confidence import UNITS_WEIGHT


@dataclass(frozen=True)
class FoldInRule:
    """Training parameters fold-in must repeat; the defaults are training's defaults, for
    snapshots whose manifest does not name them."""

    regularization: float = 0.5
    alpha: float = 3.0
    units_weight: float = UNITS_WEIGHT
    basket_decay: float = 0.9  # recency share of orders (basketry.server.buy_again)


# Manifest parameter -> (FoldInRule field, lowest, highest allowed value).
PARAMETERS = {
    "als.regularization": ("regularization", 0.0, math.inf),
    "als.alpha": ("alpha", 0.0, math.inf),
    "confidence.units_weight": ("units_weight", 0.0, math.inf),
    "buy_again.basket_decay": ("basket_decay", 0.0, 1.0),
}


def item_gram(item_factors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """YᵀY in float64 (the part of the system every customer shares)."""
    factors = item_factors.astype(np.float64)
    gram: npt.NDArray[np.float64] = factors.T @ factors
    return gram


def fold_in(
    item_factors: npt.NDArray[np.float32],
    gram: npt.NDArray[np.float64],
    items: npt.NDArray[np.int64],
    confidence: npt.NDArray[np.float32],
    regularization: float,
) -> npt.NDArray[np.float32]:
    """The customer's factors from the items they bought and each cell's confidence."""
    if items.size == 0:
        return np.zeros(gram.shape[0], dtype=np.float32)
    bought = item_factors[items].astype(np.float64)
    weight = confidence.astype(np.float64)
    system = gram + regularization * np.eye(gram.shape[0])
    system += bought.T @ (bought * (weight - 1.0)[:, None])
    target = bought.T @ weight
    solution: npt.NDArray[np.float32] = np.linalg.solve(system, target).astype(np.float32)
    return solution
