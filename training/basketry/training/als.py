"""Fits customer and item latent factors with implicit's CPU ALS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class AlsSettings:
    factors: int
    regularization: float
    iterations: int
    seed: int
    threads: int


def fit_factors(
    confidence: csr_matrix, settings: AlsSettings, *, show_progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(customer_factors, item_factors) as C-contiguous float32 arrays.

    `confidence` already holds the final confidence per cell, so implicit's own alpha
    stays 1 (see basketry.training.confidence).
    """
    # implicit parallelises over rows itself; a multi-threaded BLAS underneath only
    # oversubscribes the cores (implicit warns and runs much slower).
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=settings.factors,
            regularization=settings.regularization,
            alpha=1.0,
            iterations=settings.iterations,
            random_state=settings.seed,
            num_threads=settings.threads,
        )
        model.fit(confidence, show_progress=show_progress)
    return (
        np.ascontiguousarray(model.user_factors, dtype=np.float32),
        np.ascontiguousarray(model.item_factors, dtype=np.float32),
    )
