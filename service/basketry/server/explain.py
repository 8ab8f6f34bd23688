"""Which of a customer's purchases (or cart items) led to each pick."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from basketry.server.copurchase import PartnerContributions
from basketry.server.history import CustomerHistory
from basketry.server.model import ServingModel

MAX_BECAUSE = 3


def because_personal(
    model: ServingModel, history: CustomerHistory, picks: npt.NDArray[np.int64]
) -> list[tuple[int, ...]]:
    """Per pick: the customer's purchased items most like it, by cosine weighted by confidence.

    Only purchases with a positive weighted similarity count; at most MAX_BECAUSE each.
    """
    if picks.size == 0:
        return []
    bought = history.items
    weights = history.confidence.astype(np.float64)
    similarity = (model.item_unit[bought] @ model.item_unit[picks].T) * weights[:, None]
    answer: list[tuple[int, ...]] = []
    for column in similarity.T:
        best = np.argsort(-column, kind="stable")[:MAX_BECAUSE]
        answer.append(tuple(int(bought[i]) for i in best if column[i] > 0))
    return answer


def because_recent(model: ServingModel, history: CustomerHistory, item: int) -> tuple[int, ...]:
    """The customer's purchases that have `item` as a co-purchase partner, by recency share
    times partner score (what the recent-partners source summed), at most MAX_BECAUSE."""
    bought = history.items
    weight = history.recent_share * model.partner_matrix[bought, item].toarray()[:, 0]
    best = np.argsort(-weight, kind="stable")[:MAX_BECAUSE]
    return tuple(int(bought[i]) for i in best if weight[i] > 0)


def repeat_facts(model: ServingModel, item: int) -> tuple[float, float]:
    """(repeat probability, repurchase cycle in days) of an item; 0 for an unknown cycle."""
    cycle = float(model.item_repeat_cycle_days[item])
    return float(model.item_repeat_probability[item]), cycle if math.isfinite(cycle) else 0.0


def because_together(contributions: PartnerContributions, item: int) -> tuple[int, ...]:
    """The source items that named `item` as a partner, strongest contribution first."""
    entries = contributions.entries_for(item)
    return tuple(dict.fromkeys(int(source) for source in contributions.sources[entries]))
