"""How strongly a customer's purchases of an item count in ALS: the confidence weighting.

    strength   r = n_orders + units_weight * ln(1 + units)
    confidence c = 1 + alpha * ln(1 + r)

It defines what `history_confidence` holds, so it lives with the snapshot format: training
computes it for every history cell, and the server recomputes it for a customer whose
recorded orders change a cell (ALS fold-in). Why this shape: basketry.training.confidence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

UNITS_WEIGHT = 0.1
FORMULA = f"1 + alpha * ln(1 + n_orders + {UNITS_WEIGHT} * ln(1 + units))"


def confidence(
    n_orders: npt.ArrayLike, units: npt.ArrayLike, alpha: float, units_weight: float = UNITS_WEIGHT
) -> npt.NDArray[np.float32]:
    """Confidence per customer-item cell (float32), from distinct orders and total units."""
    strength = np.asarray(n_orders, dtype=np.float64) + units_weight * np.log1p(
        np.asarray(units, dtype=np.float64)
    )
    result: npt.NDArray[np.float32] = (1.0 + alpha * np.log1p(strength)).astype(np.float32)
    return result
