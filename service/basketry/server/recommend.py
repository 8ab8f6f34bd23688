"""Per-customer picks: buy-again, discover-new, their blend, cart context and fallbacks.

Candidate sources, each a dense score matrix (customers x items):
  buy-again         items the customer bought, scored by basketry.server.buy_again
  latent            ALS: customer factors . item factors, items the customer never bought
  recent partners   items never bought, summed partner scores of their co-purchase with
                    the customer's purchases, each purchase weighted by its recency share
                    (so partners of the latest orders lead)
  cart partners     co-purchase partners of the request's cart (context_item_ids)
Each is normalised per customer to 0..1 over its candidates (the customer's best = 1) and
weighted by the model's BlendRule (manifest parameters, b = blend.buy_again_weight,
p = blend.copurchase_weight, x = blend.context_weight):

  strategy       buy-again   latent            recent partners   cart partners
  balanced       b           (1 - b)(1 - p)    (1 - b) p         x (1 for a cold customer)
  buy-again      1           -                 -                 x, bought items only
  discover-new   -           1 - p             p                 x, never-bought items only

A pick's score is the sum, its reason the source that contributed most. Eligible items
are the filter's minus the cart, minus the once-only items the customer bought (every
strategy), and for discover-new minus everything bought. When the sources run out,
popular eligible items fill the answer. Customers are scored a chunk at a time (the
batch), so the work is a few matrix operations per chunk; a request is a chunk of one.

Default weights were measured on a validation split of Online Retail (each next-basket
test customer's last history order as the target, the orders before it as history, the
test basket untouched): see BlendRule in basketry.server.model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from basketry.server.buy_again import buy_again_scores
from basketry.server.copurchase import PartnerContributions, gather_partners
from basketry.server.domain import Fallback, Pick, Reason, Recommendation, RecommendQuery, Strategy
from basketry.server.explain import (
    because_personal,
    because_recent,
    because_together,
    repeat_facts,
)
from basketry.server.model import ServingModel
from basketry.server.popular import popular_items, popular_scores
from basketry.server.ranking import top_k_rows

Matrix = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Source:
    """One candidate list: its reason and its weighted, normalised scores (customers x items)."""

    reason: Reason
    scores: Matrix


@dataclass(frozen=True)
class Chunk:
    """The customers scored together: their rows, who is warm, and what each bought."""

    customers: list[int | None]  # model index per row, None for unknown ids
    warm: Mask  # per row
    warm_customers: npt.NDArray[np.int64]  # model index of each warm row, in row order
    bought: Mask  # rows x items
    repeat_scores: Matrix  # rows x items: buy-again score, 0 if never bought
    recent_share: sparse.csr_matrix  # rows x items: recency share of each purchase


def recommend(model: ServingModel, query: RecommendQuery, allowed: Mask) -> Recommendation:
    """Picks for one customer; `allowed` is the filter mask (not modified)."""
    return recommend_many(model, [query.customer_id], query, allowed)[0]


def recommend_many(
    model: ServingModel, customer_ids: Sequence[str], query: RecommendQuery, allowed: Mask
) -> list[Recommendation]:
    """Picks for each customer (in order) under one query; its customer_id is ignored."""
    chunk = _chunk(model, customer_ids)
    cart = model.item_indices(query.context_item_ids)
    partners = gather_partners(model, cart) if cart.size else None
    eligible = np.repeat(allowed[None, :], len(customer_ids), axis=0)
    eligible[:, cart] = False
    eligible &= ~(chunk.bought & model.item_once_only[None, :])
    if query.strategy is Strategy.DISCOVER_NEW:
        eligible &= ~chunk.bought
    sources = _sources(model, query.strategy, chunk, eligible, partners)
    picked = _rank(sources, eligible, query.limit)
    answers = []
    for row, picks in enumerate(picked):
        customer = chunk.customers[row]
        if query.explain:
            picks = _explained(model, picks, customer, partners)
        fallback = Fallback.NONE if chunk.warm[row] else Fallback.COLD_CUSTOMER
        if len(picks) < query.limit:
            filled = _popular_fill(model, eligible[row], picks, query.limit - len(picks))
            if filled and fallback is Fallback.NONE:
                fallback = Fallback.EMPTY_AFTER_FILTERS
            picks += filled
        answers.append(Recommendation(picks=picks, fallback=fallback))
    return answers


def _chunk(model: ServingModel, customer_ids: Sequence[str]) -> Chunk:
    customers = [model.customer_index.get(customer_id) for customer_id in customer_ids]
    warm = np.array(
        [c is not None and bool(model.customer_warm[c]) for c in customers], dtype=np.bool_
    )
    rows = np.flatnonzero(warm)
    warm_customers = np.array([customers[row] for row in rows], dtype=np.int64)
    starts, ends = model.history_indptr[warm_customers], model.history_indptr[warm_customers + 1]
    lengths = ends - starts
    # Entry positions of every warm row's history, concatenated, with their row numbers.
    entries = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    entries += np.repeat(starts, lengths)
    entry_rows = np.repeat(rows, lengths)
    items = model.history_items[entries]
    bought = np.zeros((len(customers), model.n_items), dtype=np.bool_)
    bought[entry_rows, items] = True
    repeat_scores = np.zeros((len(customers), model.n_items), dtype=np.float32)
    repeat_scores[entry_rows, items] = buy_again_scores(model, entries)
    recent_share = sparse.csr_matrix(
        (model.history_recent_share[entries], (entry_rows, items)),
        shape=(len(customers), model.n_items),
        dtype=np.float32,
    )
    return Chunk(
        customers=customers,
        warm=warm,
        warm_customers=warm_customers,
        bought=bought,
        repeat_scores=repeat_scores,
        recent_share=recent_share,
    )


def _sources(
    model: ServingModel,
    strategy: Strategy,
    chunk: Chunk,
    eligible: Mask,
    partners: PartnerContributions | None,
) -> list[Source]:
    blend = model.blend
    discovery = 1.0 - blend.buy_again_weight
    repeat_weight, latent_weight, recent_weight = {
        Strategy.BALANCED: (
            blend.buy_again_weight,
            discovery * (1.0 - blend.copurchase_weight),
            discovery * blend.copurchase_weight,
        ),
        Strategy.BUY_AGAIN: (1.0, 0.0, 0.0),
        Strategy.DISCOVER_NEW: (0.0, 1.0 - blend.copurchase_weight, blend.copurchase_weight),
    }[strategy]
    sources: list[Source] = []
    rows = np.flatnonzero(chunk.warm)
    never_bought = eligible & ~chunk.bought
    if repeat_weight > 0 and rows.size:
        # The chunk's repeat scores are used only here, so they are normalised in place.
        repeat = _normalise(chunk.repeat_scores, eligible, repeat_weight)
        sources.append(Source(Reason.BUY_AGAIN, repeat))
    if latent_weight > 0 and rows.size:
        latent = model.customer_factors[chunk.warm_customers] @ model.item_factors.T
        if rows.size < eligible.shape[0]:
            latent_rows, latent = latent, np.zeros(eligible.shape, dtype=np.float32)
            latent[rows] = latent_rows
        personal = _normalise(latent, never_bought, latent_weight)
        sources.append(Source(Reason.PERSONALIZED, personal))
    if recent_weight > 0 and rows.size:
        recent = np.asarray((chunk.recent_share @ model.partner_matrix).toarray(), np.float32)
        sources.append(
            Source(Reason.BOUGHT_TOGETHER, _normalise(recent, never_bought, recent_weight))
        )
    if partners is not None:
        candidates = eligible
        if strategy is Strategy.BUY_AGAIN:
            # Buy-again promises items bought before, so the cart may only reorder those
            # (a cold customer has none: the cart's partners are all it has).
            candidates = eligible & (chunk.bought | ~chunk.warm[:, None])
        totals = partners.totals(model.n_items).astype(np.float32)
        together = np.repeat(totals[None, :], eligible.shape[0], axis=0)
        weights = np.where(chunk.warm, blend.context_weight, 1.0)[:, None]
        sources.append(Source(Reason.BOUGHT_TOGETHER, _normalise(together, candidates, weights)))
    return sources


def _normalise(scores: Matrix, candidates: Mask, weight: float | npt.NDArray[np.float64]) -> Matrix:
    """In place, per row: positive candidate scores scaled so the row's best is `weight`;
    0 everywhere else. (In place because fresh chunk-sized arrays cost more than the math.)"""
    np.multiply(scores, candidates, out=scores)
    np.maximum(scores, 0.0, out=scores)
    peak = scores.max(axis=1, keepdims=True, initial=0.0)
    # Divide first: each row's best becomes exactly 1, so equal bests tie exactly.
    np.divide(scores, peak, out=scores, where=peak > 0)
    np.multiply(scores, np.asarray(weight, dtype=np.float32), out=scores)
    return scores


def _rank(sources: list[Source], eligible: Mask, limit: int) -> list[list[Pick]]:
    if not sources:
        return [[] for _ in range(eligible.shape[0])]
    total = sources[0].scores.copy()
    for source in sources[1:]:
        total += source.scores
    ranked = top_k_rows(total, eligible & (total > 0), limit)
    answers = []
    for row, chosen in enumerate(ranked):
        contributions = np.stack([source.scores[row, chosen] for source in sources])
        strongest = contributions.argmax(axis=0).tolist()
        answers.append(
            [
                Pick(item=item, score=float(total[row, item]), reason=sources[best].reason)
                for item, best in zip(chosen.tolist(), strongest, strict=True)
            ]
        )
    return answers


def _explained(
    model: ServingModel,
    picks: list[Pick],
    customer: int | None,
    partners: PartnerContributions | None,
) -> list[Pick]:
    personal = [pick.item for pick in picks if pick.reason is Reason.PERSONALIZED]
    personal_because: dict[int, tuple[int, ...]] = {}
    if personal and customer is not None:
        items = np.asarray(personal, dtype=np.int64)
        personal_because = dict(
            zip(personal, because_personal(model, customer, items), strict=True)
        )
    explained = []
    for pick in picks:
        if pick.reason is Reason.BUY_AGAIN:
            because: tuple[int, ...] = (pick.item,)
        elif pick.reason is Reason.BOUGHT_TOGETHER:
            from_cart = because_together(partners, pick.item) if partners is not None else ()
            from_history = () if customer is None else because_recent(model, customer, pick.item)
            because = from_cart or from_history
        else:
            because = personal_because.get(pick.item, ())
        probability, cycle = repeat_facts(model, pick.item)
        explained.append(Pick(pick.item, pick.score, pick.reason, because, probability, cycle))
    return explained


def _popular_fill(model: ServingModel, eligible: Mask, picks: list[Pick], count: int) -> list[Pick]:
    remaining = eligible.copy()
    remaining[[pick.item for pick in picks]] = False
    items = popular_items(model, remaining, count)
    ceiling = picks[-1].score if picks else 1.0
    scores = popular_scores(model, items, ceiling)
    return [
        Pick(item=item, score=score, reason=Reason.POPULAR)
        for item, score in zip(items.tolist(), scores, strict=True)
    ]
