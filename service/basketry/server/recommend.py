"""Per-customer picks: buy-again, discover-new, their blend, cart context and fallbacks.

Candidate sources, each a dense score matrix (customers x items):
  buy-again         items the customer bought, scored by basketry.server.buy_again
  latent            ALS: customer factors . item factors, items the customer never bought
                    (with a large catalogue's item index: only the index's best candidates)
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
strategy), for discover-new minus everything bought, and in a campaign batch minus what
the campaign sent the customer within the rotation window. When the sources run out,
popular eligible items fill the answer. Customers are scored a chunk at a time (the
batch), so the work is a few matrix operations per chunk; a request is a chunk of one.

Recorded orders (RecordOrders) count at once: a customer with orders newer than the
snapshot is a chunk row whose history is the snapshot row merged with them and whose
factors are folded in again (basketry.server.history), so once-only exclusion, "bought",
buy-again and the latent scores all see the new purchases. The store is asked once per chunk.

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

from basketry.server.chunk import Chunk, build_chunk, concatenated_ranges
from basketry.server.copurchase import PartnerContributions, gather_partners
from basketry.server.domain import Fallback, Pick, Reason, Recommendation, RecommendQuery, Strategy
from basketry.server.explain import (
    because_personal,
    because_recent,
    because_together,
    repeat_facts,
)
from basketry.server.history import CustomerHistory
from basketry.server.model import ServingModel
from basketry.server.orders import OrderStore
from basketry.server.pick_table import REASON_CODES, PickTable
from basketry.server.popular import popular_items, popular_scores
from basketry.server.ranking import top_k_positive_rows

Matrix = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

# Items the latent source scores per customer when the model has an item index.
LATENT_CANDIDATES = 200


@dataclass(frozen=True)
class Source:
    """One candidate list: its reason and its weighted, normalised scores (customers x items)."""

    reason: Reason
    scores: Matrix


def recommend(
    model: ServingModel,
    query: RecommendQuery,
    allowed: Mask,
    orders: OrderStore | None = None,
) -> Recommendation:
    """Picks for one customer; `allowed` is the filter mask (not modified); `orders` holds
    the recorded orders (None: only the snapshot counts)."""
    return recommend_many(model, [query.customer_id], query, allowed, orders)[0]


def recommend_many(
    model: ServingModel,
    customer_ids: Sequence[str],
    query: RecommendQuery,
    allowed: Mask,
    orders: OrderStore | None = None,
    excluded: Mask | None = None,
) -> PickTable:
    """Picks for each customer (in order) under one query; its customer_id is ignored.
    `excluded` (rows x items) removes items per customer, e.g. those a campaign already
    sent them (basketry.server.rotation). The answer is a sequence of Recommendation, one
    per customer, kept as arrays (basketry.server.pick_table)."""
    chunk = build_chunk(model, customer_ids, orders)
    cart = model.item_indices(query.context_item_ids)
    partners = gather_partners(model, cart) if cart.size else None
    eligible = np.repeat(allowed[None, :], len(customer_ids), axis=0)
    eligible[:, cart] = False
    eligible &= ~(chunk.bought & model.item_once_only[None, :])
    if excluded is not None:
        eligible &= ~excluded
    if query.strategy is Strategy.DISCOVER_NEW:
        eligible &= ~chunk.bought
    sources = _sources(model, query.strategy, chunk, eligible, partners)
    answers = _rank(sources, eligible, query.limit)
    answers.fallbacks = [
        Fallback.NONE if warm else Fallback.COLD_CUSTOMER for warm in chunk.warm.tolist()
    ]
    if query.explain:
        for row in range(len(customer_ids)):
            history = chunk.history(model, row)
            answers.explain(row, _explained(model, answers.picks(row), history, partners))
    for row in np.flatnonzero(answers.lengths < query.limit).tolist():
        if _popular_fill(model, eligible[row], answers, row) and chunk.warm[row]:
            answers.fallbacks[row] = Fallback.EMPTY_AFTER_FILTERS
    return answers


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
        latent = _latent_scores(model, chunk, rows, eligible.shape)
        personal = _normalise(latent, never_bought, latent_weight)
        sources.append(Source(Reason.PERSONALIZED, personal))
    if recent_weight > 0 and rows.size:
        recent = _recent_partner_scores(model, chunk)
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


def _latent_scores(
    model: ServingModel, chunk: Chunk, rows: npt.NDArray[np.int64], shape: tuple[int, ...]
) -> Matrix:
    """rows x items: ALS preference, customer factors . item factors, for the warm rows.

    Every item without an item index; with one (large catalogues), only the
    LATENT_CANDIDATES items of largest preference it finds per row, 0 elsewhere (they would
    not reach the answer: the blend takes a few dozen picks out of each source's best).
    """
    index = model.item_product_index
    if index is None:
        latent = chunk.warm_factors @ model.item_factors.T
        if rows.size == shape[0]:
            return latent
        scores = np.zeros(shape, dtype=np.float32)
        scores[rows] = latent
        return scores
    scores = np.zeros(shape, dtype=np.float32)
    found = index.nearest(chunk.warm_factors, min(LATENT_CANDIDATES, index.size))
    for position, (row, items) in enumerate(zip(rows.tolist(), found, strict=True)):
        scores[row, items] = model.item_factors[items] @ chunk.warm_factors[position]
    return scores


def _recent_partner_scores(model: ServingModel, chunk: Chunk) -> Matrix:
    """rows x items: for each row, the sum over its purchases of recency share x partner
    score (float64 products and sums, then float32).

    One customer (Recommend): gathered directly, since building scipy matrices costs more
    than a request's arithmetic (0.22 vs 0.52 ms on Online Retail). A batch chunk: one
    sparse product, 4x faster than gathering at 64 rows (4.7 vs 20.7 ms)."""
    partners = model.partner_matrix
    n_rows = chunk.warm.shape[0]
    if n_rows > 1:
        shares = sparse.csr_matrix(
            (chunk.entry_share.astype(np.float64), (chunk.entry_rows, chunk.entry_items)),
            shape=(n_rows, model.n_items),
        )
        product: Matrix = (shares @ partners).toarray().astype(np.float32)
        return product
    starts = partners.indptr[chunk.entry_items]
    lengths = partners.indptr[chunk.entry_items + 1] - starts
    positions = concatenated_ranges(starts, lengths)
    cells = np.repeat(chunk.entry_rows * model.n_items, lengths) + partners.indices[positions]
    weights = np.repeat(chunk.entry_share.astype(np.float64), lengths) * partners.data[positions]
    totals = np.bincount(cells, weights=weights, minlength=n_rows * model.n_items)
    return totals.astype(np.float32).reshape(n_rows, model.n_items)


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


def _rank(sources: list[Source], eligible: Mask, limit: int) -> PickTable:
    """Each row's best eligible items by summed score, as arrays (no per-row Python); a
    pick's reason is its strongest source's (the first source on a tie)."""
    if not sources:
        return PickTable(eligible.shape[0], limit)
    total = sources[0].scores.copy()
    for source in sources[1:]:
        total += source.scores
    # Every source is >= 0, so zeroing the ineligible items leaves the positive eligible
    # ones as the candidates (cheaper than a masked copy).
    np.multiply(total, eligible, out=total)
    rows, items = top_k_positive_rows(total, limit)
    contributions = np.stack([source.scores[rows, items] for source in sources])
    codes = np.array([REASON_CODES[source.reason] for source in sources], dtype=np.int8)
    reasons = codes[contributions.argmax(axis=0)]
    return PickTable.ranked(eligible.shape[0], limit, rows, items, total[rows, items], reasons)


def _explained(
    model: ServingModel,
    picks: list[Pick],
    history: CustomerHistory | None,
    partners: PartnerContributions | None,
) -> list[Pick]:
    personal = [pick.item for pick in picks if pick.reason is Reason.PERSONALIZED]
    personal_because: dict[int, tuple[int, ...]] = {}
    if personal and history is not None:
        items = np.asarray(personal, dtype=np.int64)
        personal_because = dict(zip(personal, because_personal(model, history, items), strict=True))
    explained = []
    for pick in picks:
        if pick.reason is Reason.BUY_AGAIN:
            because: tuple[int, ...] = (pick.item,)
        elif pick.reason is Reason.BOUGHT_TOGETHER:
            from_cart = because_together(partners, pick.item) if partners is not None else ()
            from_history = () if history is None else because_recent(model, history, pick.item)
            because = from_cart or from_history
        else:
            because = personal_because.get(pick.item, ())
        probability, cycle = repeat_facts(model, pick.item)
        explained.append(Pick(pick.item, pick.score, pick.reason, because, probability, cycle))
    return explained


def _popular_fill(model: ServingModel, eligible: Mask, answers: PickTable, row: int) -> int:
    """Fill the row up to the limit with popular eligible items; returns how many."""
    picked = answers.row_items(row)
    remaining = eligible.copy()
    remaining[picked] = False
    items = popular_items(model, remaining, answers.limit - picked.size)
    ceiling = float(answers.scores[row, picked.size - 1]) if picked.size else 1.0
    answers.append(row, items, popular_scores(model, items, ceiling), Reason.POPULAR)
    return int(items.size)
