"""Mail rotation for one RecommendBatch: what the customers were sent becomes a per-row
exclusion mask, and what the batch streams is remembered as sent.

Without a store (or when it cannot answer) a batch loses rotation, never its answers: a
chunk whose sent picks could not be read is answered as if nothing had been sent, and
picks that could not be remembered may be repeated next time. Both are logged (throttled)
and counted by the store (basketry_redis_errors_total).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.server.model import ServingModel
from basketry.server.sent_picks import SentPicksStore, SentPicksUnavailable
from basketry.server.throttled_log import ThrottledWarning

Mask = npt.NDArray[np.bool_]

log = logging.getLogger(__name__)
_read_failed = ThrottledWarning(log)
_write_failed = ThrottledWarning(log)


def sent_mask(
    model: ServingModel, customer_ids: Sequence[str], sent: Mapping[str, frozenset[str]]
) -> Mask:
    """rows x items: True where the row's customer was sent the item (ids unknown to the
    model are ignored: the item is not served, so it cannot be repeated)."""
    mask = np.zeros((len(customer_ids), model.n_items), dtype=np.bool_)
    for row, customer_id in enumerate(customer_ids):
        items = sent.get(customer_id)
        if items:
            mask[row, model.item_indices(items)] = True
    return mask


@dataclass(frozen=True)
class CampaignRotation:
    store: SentPicksStore
    campaign: str

    def excluded(self, model: ServingModel, customer_ids: Sequence[str]) -> Mask | None:
        """The rows' sent items as a mask, or None when the store cannot say."""
        try:
            sent = self.store.sent(self.campaign, customer_ids)
        except SentPicksUnavailable as exc:
            _read_failed.warn(
                f"{exc}; campaign {self.campaign!r}: {len(customer_ids)} customers answered "
                "without rotation"
            )
            return None
        return sent_mask(model, customer_ids, sent)

    def remember(self, picks: Mapping[str, Sequence[str]]) -> None:
        """Record customer id -> item ids as sent; a failure is logged, not raised (the
        answers are already out)."""
        if not picks:
            return
        try:
            self.store.remember(self.campaign, picks)
        except SentPicksUnavailable as exc:
            _write_failed.warn(
                f"{exc}; campaign {self.campaign!r}: picks of {len(picks)} customers not "
                "remembered and may be repeated"
            )
