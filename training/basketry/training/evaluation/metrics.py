"""Ranking metrics against the whole catalogue, as defined in the Reality Check protocol.

For one customer with test items T and a ranked list r_1, r_2, ... :
- Recall@k = |top k ∩ T| / |T| (not capped at min(k, |T|): a basket of 30 items cannot be
  fully found in 10 picks, and that is part of the score);
- NDCG@k = DCG@k / IDCG, DCG@k = sum over hits r_i, i <= k, of 1 / log2(i + 1), IDCG the
  DCG of a perfect ranking of all |T| items (again over all of T, not the first k);
- PHR@k = 1 if there is at least one hit in the top k.
Each is averaged over customers. The repeat/explore breakdown splits T into items the
customer bought before and new ones and averages Recall@k of each part over the customers
who have such items. Coverage and the already-bought share describe the lists themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

Ranked = Mapping[str, Sequence[str]]
ItemSets = Mapping[str, frozenset[str]]


def recall_at(ranked: Sequence[str], truth: frozenset[str], k: int) -> float:
    return len(truth.intersection(ranked[:k])) / len(truth)


def ndcg_at(ranked: Sequence[str], truth: frozenset[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in truth)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(len(truth)))
    return dcg / ideal


def hit_at(ranked: Sequence[str], truth: frozenset[str], k: int) -> float:
    return 1.0 if truth.intersection(ranked[:k]) else 0.0


def ranking_metrics(
    ranked: Ranked, truth: ItemSets, bought: ItemSets, *, ks: Sequence[int], catalogue_size: int
) -> dict[str, float]:
    """All metrics for one method: keys like "recall@10", "explore_recall@20", "coverage@10".

    `truth` holds each test customer's non-empty target; a customer missing from `ranked`
    counts as an empty list (every metric 0 for them). `bought` is each customer's history.
    """
    customers = [customer for customer, items in truth.items() if items]
    if not customers:
        raise ValueError("no test customer has a non-empty target")
    result: dict[str, float] = {}
    for k in ks:
        lists = {customer: list(ranked.get(customer, ()))[:k] for customer in customers}
        result[f"recall@{k}"] = _mean(recall_at(lists[c], truth[c], k) for c in customers)
        result[f"ndcg@{k}"] = _mean(ndcg_at(lists[c], truth[c], k) for c in customers)
        result[f"phr@{k}"] = _mean(hit_at(lists[c], truth[c], k) for c in customers)
        repeat = {c: truth[c] & bought.get(c, frozenset()) for c in customers}
        explore = {c: truth[c] - repeat[c] for c in customers}
        result[f"repeat_recall@{k}"] = _mean(
            recall_at(lists[c], repeat[c], k) for c in customers if repeat[c]
        )
        result[f"explore_recall@{k}"] = _mean(
            recall_at(lists[c], explore[c], k) for c in customers if explore[c]
        )
        recommended = {item for items in lists.values() for item in items}
        result[f"coverage@{k}"] = len(recommended) / catalogue_size if catalogue_size else 0.0
        picks = sum(len(items) for items in lists.values())
        already = sum(len(bought.get(c, frozenset()).intersection(lists[c])) for c in customers)
        result[f"bought_share@{k}"] = already / picks if picks else 0.0
    return result


def _mean(values: Iterable[float]) -> float:
    numbers = list(values)
    return sum(numbers) / len(numbers) if numbers else 0.0
