"""Look-alike quality: given an item's past buyers, who buys it for the first time next?

Protocol (recommendation-quality note, "Beyond next basket"; Li et al., ACM TORS 2023): for
items with enough buyers in the history and enough first-time buyers in the future lines,
the seeds are the item's buyers in the history and the targets are customers known in the
history whose first purchase of the item is in the future lines. Every known customer outside
the seeds is a candidate. The served ranking (similarity.lookalike, what the gRPC Lookalike
calls) is compared with the most active customers (most history orders, seeds left out).

Recall@k = targets in the top k / all targets; NDCG@k ranks min(|targets|, k) hits first
in its ideal (bundles.ndcg_at_k).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from basketry.server.model import ServingModel
from basketry.server.similarity import lookalike
from basketry.training.errors import TrainingInputError
from basketry.training.evaluation.bundles import ndcg_at_k

log = logging.getLogger("basketry.training.evaluation")

MIN_HISTORY_BUYERS = 20
MIN_NEW_BUYERS = 5
MAX_ITEMS = 200
DEPTH = 100
SERVED = "served (seed customers)"
MOST_ACTIVE = "most active customers"

Customers = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LookalikeCase:
    """One item: its history buyers (the seeds) and its first-time buyers after (targets)."""

    item_id: str
    seed_ids: tuple[str, ...]
    seeds: Customers  # customer indices of seed_ids
    targets: frozenset[int]  # customer indices


def evaluate_lookalike(
    history: pl.DataFrame,
    future: pl.DataFrame,
    model: ServingModel,
    *,
    seed: int,
    min_history_buyers: int = MIN_HISTORY_BUYERS,
    min_new_buyers: int = MIN_NEW_BUYERS,
    max_items: int = MAX_ITEMS,
    depth: int = DEPTH,
) -> dict[str, Any]:
    """Recall and NDCG at `depth` of each audience ranking, averaged over seeded items.

    `model` must be the serving model fitted on `history`; TrainingInputError when no item
    has enough buyers on both sides.
    """
    if min(min_history_buyers, min_new_buyers, max_items, depth) < 1:
        raise TrainingInputError(
            "look-alike evaluation needs min_history_buyers, min_new_buyers, max_items and "
            f"depth >= 1, got {min_history_buyers}, {min_new_buyers}, {max_items}, {depth}"
        )
    started = time.perf_counter()
    cases, eligible = lookalike_cases(
        history,
        future,
        model,
        seed=seed,
        min_history_buyers=min_history_buyers,
        min_new_buyers=min_new_buyers,
        max_items=max_items,
    )
    if not cases:
        raise TrainingInputError(
            f"no item has >= {min_history_buyers} buyers in the history and >= "
            f"{min_new_buyers} first-time buyers after it: no look-alike queries"
        )
    log.info("look-alike: %d of %d eligible items, top %d", len(cases), eligible, depth)
    rankers = _rankers(model, history_orders_per_customer(history, model), depth)
    scores = {method: score_cases(rank, cases, depth) for method, rank in rankers.items()}
    for method, values in scores.items():
        log.info("look-alike: %s recall@%d %.4f", method, depth, values[f"recall@{depth}"])
    served, baseline = scores[SERVED][f"recall@{depth}"], scores[MOST_ACTIVE][f"recall@{depth}"]
    return {
        "protocol": (
            "look-alike: seeds = an item's history buyers, targets = known customers whose "
            "first purchase of it is after the history; candidates = known non-seeds"
        ),
        "parameters": {
            "seed": seed,
            "min_history_buyers": min_history_buyers,
            "min_new_buyers": min_new_buyers,
            "max_items": max_items,
            "k": depth,
        },
        "counts": {
            "eligible_items": eligible,
            "items": len(cases),
            "mean_seeds": round(float(np.mean([case.seeds.size for case in cases])), 2),
            "mean_targets": round(float(np.mean([len(case.targets) for case in cases])), 2),
            "customers": model.n_customers,
        },
        "target": {
            "description": f"served recall@{depth} at least twice the most-active baseline",
            "ratio": round(served / baseline, 3) if baseline > 0 else None,
            "met": served >= 2 * baseline,
        },
        "table": [{"method": method, **values} for method, values in scores.items()],
        "seconds": round(time.perf_counter() - started, 3),
    }


def lookalike_cases(
    history: pl.DataFrame,
    future: pl.DataFrame,
    model: ServingModel,
    *,
    seed: int,
    min_history_buyers: int,
    min_new_buyers: int,
    max_items: int,
) -> tuple[list[LookalikeCase], int]:
    """A seeded sample of at most `max_items` eligible items, and how many were eligible.

    Only customers and items the model knows take part.
    """
    past = _known_pairs(history, model)
    new = _known_pairs(future, model).join(past, on=["customer_id", "item_id"], how="anti")
    grouped = (
        past.group_by("item_id")
        .agg(pl.col("customer_id").sort().alias("seed_ids"))
        .join(new.group_by("item_id").agg(pl.col("customer_idx").alias("targets")), on="item_id")
        .filter(
            (pl.col("seed_ids").list.len() >= min_history_buyers)
            & (pl.col("targets").list.len() >= min_new_buyers)
        )
        .sort("item_id")
    )
    rows = grouped.rows(named=True)
    if len(rows) > max_items:
        chosen = np.sort(np.random.default_rng(seed).choice(len(rows), max_items, replace=False))
        rows = [rows[position] for position in chosen.tolist()]
    cases = [
        LookalikeCase(
            item_id=row["item_id"],
            seed_ids=tuple(row["seed_ids"]),
            seeds=np.asarray([model.customer_index[c] for c in row["seed_ids"]], dtype=np.int64),
            targets=frozenset(row["targets"]),
        )
        for row in rows
    ]
    return cases, grouped.height


def history_orders_per_customer(history: pl.DataFrame, model: ServingModel) -> Customers:
    """Distinct history orders of each model customer (0 for customers without any)."""
    per_customer = (
        _with_customer_index(history.select("customer_id", "order_id"), model)
        .group_by("customer_idx")
        .agg(pl.col("order_id").n_unique().alias("orders"))
    )
    orders = np.zeros(model.n_customers, dtype=np.int64)
    orders[per_customer["customer_idx"].to_numpy()] = per_customer["orders"].to_numpy()
    return orders


def score_cases(
    rank: Callable[[LookalikeCase], Customers], cases: list[LookalikeCase], depth: int
) -> dict[str, float]:
    """Mean Recall@depth and NDCG@depth over the cases."""
    recall = ndcg = 0.0
    for case in cases:
        ranked = rank(case)[:depth].tolist()
        recall += len(case.targets.intersection(ranked)) / len(case.targets)
        ndcg += ndcg_at_k(ranked, case.targets, depth)
    return {
        f"recall@{depth}": round(recall / len(cases), 6),
        f"ndcg@{depth}": round(ndcg / len(cases), 6),
    }


def _rankers(
    model: ServingModel, activity: Customers, depth: int
) -> dict[str, Callable[[LookalikeCase], Customers]]:
    most_active = np.lexsort((np.arange(activity.size), -activity)).astype(np.int64)

    def served(seed_customer_ids: tuple[str, ...], seed_item_ids: tuple[str, ...]) -> Customers:
        answer = lookalike(model, seed_customer_ids, seed_item_ids, depth)
        return np.asarray([scored.index for scored in answer.customers], dtype=np.int64)

    def active(case: LookalikeCase) -> Customers:
        return most_active[~np.isin(most_active, case.seeds)][:depth]

    return {
        SERVED: lambda case: served(case.seed_ids, ()),
        # The same audience named by the item: its buyers in the snapshot are the seeds.
        "served (seed item)": lambda case: served((), (case.item_id,)),
        MOST_ACTIVE: active,
    }


def _known_pairs(lines: pl.DataFrame, model: ServingModel) -> pl.DataFrame:
    """Distinct (customer_id, item_id, customer_idx) of customers and items the model knows."""
    items = pl.DataFrame({"item_id": list(model.item_ids)}, schema={"item_id": pl.String})
    pairs = lines.select("customer_id", "item_id").unique()
    return _with_customer_index(pairs.join(items, on="item_id", how="semi"), model)


def _with_customer_index(lines: pl.DataFrame, model: ServingModel) -> pl.DataFrame:
    index = pl.DataFrame(
        {
            "customer_id": list(model.customer_ids),
            "customer_idx": np.arange(model.n_customers, dtype=np.int64),
        },
        schema={"customer_id": pl.String, "customer_idx": pl.Int64},
    )
    return lines.join(index, on="customer_id", how="inner")
