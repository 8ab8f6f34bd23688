"""Items bought together with a basket, with the rule statistics a person can read."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from basketry.server.copurchase import PartnerContributions, gather_partners
from basketry.server.domain import BundleAnswer, BundlePick, BundleQuery, Fallback, Reason
from basketry.server.explain import because_together
from basketry.server.model import ServingModel
from basketry.server.popular import popular_items, popular_scores
from basketry.server.ranking import top_k


def bundle(model: ServingModel, query: BundleQuery, allowed: npt.NDArray[np.bool_]) -> BundleAnswer:
    """Partners of the known basket items ranked by summed partner score; popular items fill.

    Unknown basket ids are ignored; when none is known the answer is popular items.
    """
    basket = model.item_indices(query.item_ids)
    eligible = allowed.copy()
    eligible[basket] = False
    if basket.size == 0:
        return BundleAnswer(
            _popular(model, eligible, query.limit, ceiling=1.0), Fallback.UNKNOWN_ITEM
        )
    partners = gather_partners(model, basket)
    totals = partners.totals(model.n_items)
    chosen = top_k(totals, eligible & (totals > 0), query.limit)
    picks = [_rule_pick(model, partners, item, float(totals[item])) for item in chosen.tolist()]
    eligible[chosen] = False
    ceiling = picks[-1].score if picks else 1.0
    filled = _popular(model, eligible, query.limit - len(picks), ceiling=ceiling)
    return BundleAnswer(picks + filled, Fallback.EMPTY_AFTER_FILTERS if filled else Fallback.NONE)


def _rule_pick(
    model: ServingModel, partners: PartnerContributions, item: int, score: float
) -> BundlePick:
    """The pick with confidence, lift and support of its strongest basket item."""
    strongest = partners.entries_for(item)[0]
    source = int(partners.sources[strongest])
    together = int(partners.counts[strongest])
    source_orders = max(1, int(model.item_orders[source]))
    item_orders = max(1, int(model.item_orders[item]))
    return BundlePick(
        item=item,
        score=score,
        reason=Reason.BOUGHT_TOGETHER,
        confidence=together / source_orders,
        lift=together * model.total_orders / (source_orders * item_orders),
        support=together / model.total_orders,
        co_purchase_count=together,
        because=because_together(partners, item),
    )


def _popular(
    model: ServingModel, eligible: npt.NDArray[np.bool_], count: int, *, ceiling: float
) -> list[BundlePick]:
    items = popular_items(model, eligible, count)
    scores = popular_scores(model, items, ceiling)
    return [
        BundlePick(item=item, score=score, reason=Reason.POPULAR)
        for item, score in zip(items.tolist(), scores, strict=True)
    ]
