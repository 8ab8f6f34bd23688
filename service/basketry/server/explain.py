"""Which of a customer's purchases (or cart items) led to each pick."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from basketry.server.copurchase import PartnerContributions
from basketry.server.model import ServingModel

MAX_BECAUSE = 3


def because_personal(
    model: ServingModel, customer: int, picks: npt.NDArray[np.int64]
) -> list[tuple[int, ...]]:
    """Per pick: the customer's purchased items most like it, by cosine weighted by confidence.

    Only purchases with a positive weighted similarity count; at most MAX_BECAUSE each.
    """
    if picks.size == 0:
        return []
    history = model.history_slice(customer)
    bought = model.history_items[history]
    weights = model.history_confidence[history].astype(np.float64)
    similarity = (model.item_unit[bought] @ model.item_unit[picks].T) * weights[:, None]
    answer: list[tuple[int, ...]] = []
    for column in similarity.T:
        best = np.argsort(-column, kind="stable")[:MAX_BECAUSE]
        answer.append(tuple(int(bought[i]) for i in best if column[i] > 0))
    return answer


def because_together(contributions: PartnerContributions, item: int) -> tuple[int, ...]:
    """The source items that named `item` as a partner, strongest contribution first."""
    entries = contributions.entries_for(item)
    return tuple(dict.fromkeys(int(source) for source in contributions.sources[entries]))
