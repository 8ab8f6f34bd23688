"""Bundle quality on held-out orders: does one item of an order find the order's other items?

Within-basket protocol (recommendation-quality note, "Beyond next basket"): each sampled
held-out order with at least two distinct items the model knows gives up to a few queries of
one item each; the order's other known items are the hits. The served ranking (bundle.bundle,
what the gRPC Bundle returns) is compared with raw lift, confidence and popularity computed
from the full co-occurrence counts of the history orders, so those rankings see every
co-occurring partner, not only the top partners the snapshot keeps.

A short partner list is padded with the server's popularity order, as the server pads its
own answers, so every method fills its k slots and only the order of the partners differs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.sparse import csr_matrix

from basketry.server.bundle import bundle
from basketry.server.domain import BundleQuery, Reason
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel
from basketry.training.config import RulesSettings
from basketry.training.copurchase import build_baskets
from basketry.training.errors import TrainingInputError

log = logging.getLogger("basketry.training.evaluation")

KS = (5, 10)
MAX_ORDERS = 5_000
QUERIES_PER_ORDER = 5
SERVED = "served (chance-corrected confidence)"

Items = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Ranking:
    """A ranked item list, best first; its last `filled` entries are popularity padding."""

    items: Items
    filled: int


@dataclass(frozen=True)
class BundleQueries:
    """One entry per query: the item asked with and the other known items of its order."""

    items: list[int]
    truths: list[frozenset[int]]
    eligible_orders: int  # held-out orders with >= 2 known items
    sampled_orders: int


@dataclass(frozen=True)
class CoOccurrence:
    """items x items co-order counts of the history orders; the diagonal is n_a."""

    counts: csr_matrix
    item_orders: npt.NDArray[np.int64]
    orders: int

    def partners(self, item: int) -> tuple[Items, Items]:
        """(partner, n_ab) for every item sharing at least one order with `item`."""
        start, stop = int(self.counts.indptr[item]), int(self.counts.indptr[item + 1])
        partners = self.counts.indices[start:stop].astype(np.int64)
        together = self.counts.data[start:stop].astype(np.int64)
        other = partners != item
        return partners[other], together[other]


def evaluate_bundles(
    history: pl.DataFrame,
    test: pl.DataFrame,
    model: ServingModel,
    *,
    seed: int,
    max_orders: int = MAX_ORDERS,
    queries_per_order: int = QUERIES_PER_ORDER,
) -> dict[str, Any]:
    """Hit rate and NDCG at 5 and 10 of each ranking over seeded one-item queries on `test`.

    `model` must be the serving model fitted on `history`; TrainingInputError when no
    held-out order holds two items the model knows.
    """
    if max_orders < 1 or queries_per_order < 1:
        raise TrainingInputError(
            f"bundle evaluation needs max_orders >= 1 and queries_per_order >= 1, "
            f"got {max_orders} and {queries_per_order}"
        )
    started = time.perf_counter()
    queries = sample_queries(
        test, model, seed=seed, max_orders=max_orders, per_order=queries_per_order
    )
    if not queries.items:
        raise TrainingInputError(
            "no held-out order holds two distinct items the model knows: no bundle queries"
        )
    min_pair_count = _int_parameter(model, "rules.min_pair_count", RulesSettings.min_pair_count)
    max_basket_size = _int_parameter(model, "rules.max_basket_size", RulesSettings.max_basket_size)
    co = co_occurrence(history, model, max_basket_size=max_basket_size)
    log.info(
        "bundles: %s queries from %s of %s held-out orders; co-occurrence of %s history orders",
        f"{len(queries.items):,}",
        f"{queries.sampled_orders:,}",
        f"{queries.eligible_orders:,}",
        f"{co.orders:,}",
    )
    allowed = allowed_items(model, ItemFilter())
    depth = max(KS)
    rankers = _rankers(model, co, allowed, depth=depth, min_pair_count=min_pair_count)
    asked = sorted(set(queries.items))
    scores: dict[str, dict[str, float]] = {}
    for method, rank in rankers.items():
        rankings = {item: rank(item) for item in asked}
        scores[method] = score_rankings(rankings, queries, KS)
        log.info("bundles: %s hit rate@5 %.4f", method, scores[method]["hit_rate@5"])
    rivals = [method for method in scores if method.startswith(("lift", "confidence"))]
    served = scores[SERVED]["hit_rate@5"]
    return {
        "protocol": "within-basket: one item of a held-out order asks for the others",
        "parameters": {
            "seed": seed,
            "max_orders": max_orders,
            "queries_per_order": queries_per_order,
            "ks": list(KS),
            "min_pair_count": min_pair_count,
            "max_basket_size": max_basket_size,
        },
        "counts": {
            "held_out_orders_with_2_known_items": queries.eligible_orders,
            "sampled_orders": queries.sampled_orders,
            "queries": len(queries.items),
            "distinct_query_items": len(asked),
            "history_orders_mined": co.orders,
        },
        "target": {
            "description": "the served ranking beats confidence and raw lift on hit rate@5",
            "met": all(served > scores[method]["hit_rate@5"] for method in rivals),
        },
        "table": [{"method": method, **values} for method, values in scores.items()],
        "seconds": round(time.perf_counter() - started, 3),
    }


def sample_queries(
    test: pl.DataFrame, model: ServingModel, *, seed: int, max_orders: int, per_order: int
) -> BundleQueries:
    """Seeded sample of held-out orders with >= 2 known items, then of query items in each."""
    baskets = (
        _with_item_index(test.select("order_id", "item_id"), model)
        .group_by("order_id")
        .agg(pl.col("item_idx").unique().sort())
        .filter(pl.col("item_idx").list.len() >= 2)
        .sort("order_id")["item_idx"]
        .to_list()
    )
    rng = np.random.default_rng(seed)
    chosen: Sequence[int] = range(len(baskets))
    if len(baskets) > max_orders:
        chosen = np.sort(rng.choice(len(baskets), size=max_orders, replace=False)).tolist()
    items: list[int] = []
    truths: list[frozenset[int]] = []
    for position in chosen:
        basket = baskets[position]
        for item in rng.choice(basket, size=min(per_order, len(basket)), replace=False).tolist():
            items.append(item)
            truths.append(frozenset(basket) - {item})
    return BundleQueries(items, truths, len(baskets), len(chosen))


def co_occurrence(
    history: pl.DataFrame, model: ServingModel, *, max_basket_size: int
) -> CoOccurrence:
    """Full co-order counts of the history orders, mined as training mines them."""
    known = _with_item_index(history.select("order_id", "item_id"), model)
    order_idx = known["order_id"].rank("dense").cast(pl.Int64) - 1
    baskets = build_baskets(
        order_idx.to_numpy(),
        known["item_idx"].to_numpy(),
        n_orders=int(known["order_id"].n_unique()),
        n_items=model.n_items,
        max_basket_size=max_basket_size,
    )
    counts = csr_matrix(baskets.matrix.T @ baskets.matrix)
    return CoOccurrence(counts, baskets.item_orders.astype(np.int64), baskets.orders)


def lift_ranking(co: CoOccurrence, item: int, *, min_pair_count: int) -> Items:
    """Partners with n_ab >= min_pair_count by lift = n_ab N / (n_a n_b); ties: lower index."""
    partners, together = co.partners(item)
    keep = together >= min_pair_count
    partners, together = partners[keep], together[keep]
    lift = together * co.orders / (co.item_orders[item] * co.item_orders[partners])
    return partners[np.lexsort((partners, -lift))]


def confidence_ranking(co: CoOccurrence, item: int) -> Items:
    """Partners by confidence = n_ab / n_a (n_a is fixed per query); ties: lower index."""
    partners, together = co.partners(item)
    confidence = together / co.item_orders[item]
    return partners[np.lexsort((partners, -confidence))]


def hit_at_k(ranked: Sequence[int], truth: frozenset[int], k: int) -> float:
    """1.0 when any of the first k items is in `truth`, else 0.0."""
    return 1.0 if any(item in truth for item in ranked[:k]) else 0.0


def ndcg_at_k(ranked: Sequence[int], truth: frozenset[int], k: int) -> float:
    """Binary-relevance NDCG@k; the ideal ranks min(|truth|, k) hits first."""
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in truth)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(truth), k)))
    return dcg / ideal if ideal > 0 else 0.0


def score_rankings(
    rankings: dict[int, Ranking], queries: BundleQueries, ks: Sequence[int]
) -> dict[str, float]:
    """Mean hit rate and NDCG at each k, and the share of top-k slots filled by popularity."""
    totals = dict.fromkeys(
        [f"{name}@{k}" for k in ks for name in ("hit_rate", "ndcg", "filled")], 0.0
    )
    for item, truth in zip(queries.items, queries.truths, strict=True):
        ranking = rankings[item]
        ranked = ranking.items.tolist()
        partners = len(ranked) - ranking.filled
        for k in ks:
            totals[f"hit_rate@{k}"] += hit_at_k(ranked, truth, k)
            totals[f"ndcg@{k}"] += ndcg_at_k(ranked, truth, k)
            totals[f"filled@{k}"] += max(0, min(k, len(ranked)) - partners) / k
    return {name: round(total / len(queries.items), 6) for name, total in totals.items()}


def _rankers(
    model: ServingModel, co: CoOccurrence, allowed: Bools, *, depth: int, min_pair_count: int
) -> dict[str, Callable[[int], Ranking]]:
    by_orders = np.lexsort((np.arange(model.n_items), -co.item_orders)).astype(np.int64)

    def padded(item: int, ranked: Items) -> Ranking:
        return _padded(ranked, model.popularity_order, item, allowed, depth)

    return {
        SERVED: lambda item: _served(model, item, allowed, depth),
        "lift (n_ab >= 1)": lambda item: padded(item, lift_ranking(co, item, min_pair_count=1)),
        f"lift (n_ab >= {min_pair_count})": lambda item: padded(
            item, lift_ranking(co, item, min_pair_count=min_pair_count)
        ),
        "confidence": lambda item: padded(item, confidence_ranking(co, item)),
        "popularity (item orders)": lambda item: Ranking(
            _padded(by_orders, by_orders, item, allowed, depth).items, filled=0
        ),
    }


def _served(model: ServingModel, item: int, allowed: Bools, depth: int) -> Ranking:
    answer = bundle(model, BundleQuery(item_ids=(model.item_ids[item],), limit=depth), allowed)
    items = np.asarray([pick.item for pick in answer.picks], dtype=np.int64)
    return Ranking(items, filled=sum(pick.reason is Reason.POPULAR for pick in answer.picks))


def _padded(ranked: Items, fill: Items, item: int, allowed: Bools, depth: int) -> Ranking:
    """The first `depth` allowed entries of `ranked` (never `item`), then `fill` entries."""
    head = ranked[allowed[ranked] & (ranked != item)][:depth]
    if head.size == depth:
        return Ranking(head, filled=0)
    taken = np.zeros(allowed.shape[0], dtype=np.bool_)
    taken[head] = True
    taken[item] = True
    rest = fill[allowed[fill] & ~taken[fill]][: depth - head.size]
    return Ranking(np.concatenate([head, rest]), filled=int(rest.size))


def _with_item_index(lines: pl.DataFrame, model: ServingModel) -> pl.DataFrame:
    """`lines` with the model's item_idx column; lines of items the model lacks are dropped."""
    index = pl.DataFrame(
        {"item_id": list(model.item_ids), "item_idx": np.arange(model.n_items, dtype=np.int64)},
        schema={"item_id": pl.String, "item_idx": pl.Int64},
    )
    return lines.join(index, on="item_id", how="inner")


def _int_parameter(model: ServingModel, key: str, default: int) -> int:
    value = (model.manifest.get("parameters") or {}).get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TrainingInputError(f"snapshot parameter {key} must be a positive integer: {value!r}")
    return value
