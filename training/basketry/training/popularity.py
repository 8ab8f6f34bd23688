"""Item popularity: distinct buyers per item, and the best sellers overall and per category.

Popularity is measured in distinct buyers, not units or orders, so one wholesaler
re-ordering an item every week does not make it a best seller for everybody.
"""

from __future__ import annotations

import numpy as np

TOP_N = 10


def item_buyers(history_items: np.ndarray, n_items: int) -> np.ndarray:
    """Distinct customers per item (each history cell is one customer-item pair)."""
    return np.bincount(history_items, minlength=n_items).astype(np.int32)


def top_items(
    buyers: np.ndarray,
    orders: np.ndarray,
    item_ids: np.ndarray,
    candidates: np.ndarray | None = None,
) -> list[str]:
    """Ids of the TOP_N items by buyers, then orders, then id (among `candidates` if given)."""
    pool = np.arange(buyers.shape[0]) if candidates is None else candidates
    ranked = pool[np.lexsort((item_ids[pool], -orders[pool], -buyers[pool]))]
    return [str(item_ids[i]) for i in ranked[:TOP_N]]


def top_items_by_category(
    buyers: np.ndarray,
    orders: np.ndarray,
    item_ids: np.ndarray,
    categories: np.ndarray,
    category_names: np.ndarray,
) -> dict[str, list[str]]:
    """TOP_N item ids per category name."""
    return {
        str(name): top_items(buyers, orders, item_ids, np.flatnonzero(categories == k))
        for k, name in enumerate(category_names)
    }
