"""Co-purchase partners of a set of source items (a basket or a cart), merged.

Each source item contributes its stored top partners with their positive score
(pairs_score: chance-corrected confidence, see basketry.training.copurchase); a partner's
total is the sum over sources. The score is a share of the source item's orders, so every
source item counts on the same scale whatever its popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.server.model import ServingModel


@dataclass(frozen=True)
class PartnerContributions:
    """One entry per (source item, partner) with a positive score."""

    sources: npt.NDArray[np.int64]
    partners: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]

    def totals(self, n_items: int) -> npt.NDArray[np.float64]:
        """Summed score per item (0 for items no source names)."""
        totals = np.bincount(self.partners, weights=self.scores, minlength=n_items)
        return totals.astype(np.float64, copy=False)

    def entries_for(self, item: int) -> npt.NDArray[np.int64]:
        """Entry positions naming `item`, strongest contribution first (ties: source order)."""
        entries = np.flatnonzero(self.partners == item)
        return entries[np.argsort(-self.scores[entries], kind="stable")]


def gather_partners(model: ServingModel, sources: npt.NDArray[np.int64]) -> PartnerContributions:
    """The positive partner entries of every source item, in source order."""
    slices = [
        np.arange(model.pairs_indptr[source], model.pairs_indptr[source + 1], dtype=np.int64)
        for source in sources.tolist()
    ]
    lengths = np.fromiter((entry.size for entry in slices), dtype=np.int64, count=len(slices))
    entries = np.concatenate(slices) if slices else np.empty(0, dtype=np.int64)
    entry_sources = np.repeat(sources.astype(np.int64), lengths)
    scores = model.pairs_score[entries].astype(np.float64)
    positive = scores > 0
    return PartnerContributions(
        sources=entry_sources[positive],
        partners=model.pairs_partner[entries][positive].astype(np.int64),
        scores=scores[positive],
        counts=model.pairs_count[entries][positive].astype(np.int64),
    )
