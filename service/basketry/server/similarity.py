"""Cosine similarity over latent factors: similar items, similar customers, look-alikes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from basketry.server.domain import LookalikeAnswer, ScoredIndex
from basketry.server.errors import NotFound
from basketry.server.model import ServingModel
from basketry.server.ranking import top_k


def similar_items(
    model: ServingModel, item_id: str, limit: int, allowed: npt.NDArray[np.bool_]
) -> list[ScoredIndex]:
    """Items most like `item_id` among the allowed ones, never the item itself.

    Items without a latent vector (never trained) are like nothing: an empty answer.
    """
    item = model.item_index.get(item_id)
    if item is None:
        raise NotFound(f"item {item_id!r} is not in snapshot {model.version}")
    if not model.item_has_factors[item]:
        return []
    scores = model.item_unit @ model.item_unit[item]
    eligible = allowed & model.item_has_factors
    eligible[item] = False
    return _scored(scores, top_k(scores, eligible, limit))


def similar_customers(model: ServingModel, customer_id: str, limit: int) -> list[ScoredIndex]:
    """Customers most like `customer_id`, never the customer; NotFound if unknown."""
    customer = model.customer_index.get(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} is not in snapshot {model.version}")
    if not model.customer_warm[customer]:
        return []
    scores = model.customer_unit @ model.customer_unit[customer]
    eligible = model.customer_warm.copy()
    eligible[customer] = False
    return _scored(scores, top_k(scores, eligible, limit))


def lookalike(
    model: ServingModel,
    seed_customer_ids: tuple[str, ...],
    seed_item_ids: tuple[str, ...],
    limit: int,
) -> LookalikeAnswer:
    """Customers most like the seed audience (seed customers plus the buyers of seed items).

    The audience vector is the mean of the seeds' unit factor vectors; every other customer
    with a latent vector is ranked by cosine with it. NotFound when no seed is known.
    """
    seeds = _seed_customers(model, seed_customer_ids, seed_item_ids)
    if seeds.size == 0:
        raise NotFound(
            "none of the seed customers or seed items is in snapshot "
            f"{model.version}: no audience to look alike"
        )
    centroid = model.customer_unit[seeds].mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm == 0.0:
        return LookalikeAnswer(customers=[], seed_size=int(seeds.size))
    scores = model.customer_unit @ (centroid / norm)
    eligible = model.customer_warm.copy()
    eligible[seeds] = False
    return LookalikeAnswer(
        customers=_scored(scores, top_k(scores, eligible, limit)), seed_size=int(seeds.size)
    )


def _seed_customers(
    model: ServingModel, seed_customer_ids: tuple[str, ...], seed_item_ids: tuple[str, ...]
) -> npt.NDArray[np.int64]:
    known = [model.customer_index[c] for c in seed_customer_ids if c in model.customer_index]
    parts = [np.asarray(known, dtype=np.int64)]
    for item in model.item_indices(seed_item_ids).tolist():
        start, end = model.buyers_indptr[item], model.buyers_indptr[item + 1]
        parts.append(model.buyers_customers[start:end].astype(np.int64))
    return np.unique(np.concatenate(parts))


def _scored(scores: npt.NDArray[np.floating], indices: npt.NDArray[np.int64]) -> list[ScoredIndex]:
    return [ScoredIndex(index=i, score=float(scores[i])) for i in indices.tolist()]
