"""Deterministic synthetic snapshots with known structure, for server and client tests.

The order history is simulated (customers with favourite categories and staple items they
re-buy, Zipf-like item popularity, planted "bought together" partners: item 2j and item
2j+1 are usually bought together), then turned into a snapshot the way training does:
history CSR, popularity, co-purchase partners ranked by z = (n_ab - E_ab) / sqrt(E_ab).
Latent factors are not fitted: items get their category's centroid plus noise (so
same-category items are similar) and customers the mean of what they bought.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from basketry.snapshot import publish_snapshot
from basketry.snapshot.derived import serving_arrays
from basketry.snapshot.vector_index import ANN_BUILD_MIN_ROWS

N_CATEGORIES = 5
REFERENCE_TS = 1_700_000_000  # the newest order of every synthetic history
SECONDS_PER_DAY = 86_400
TOP_PARTNERS = 10
MIN_PAIR_COUNT = 2
COLD_CUSTOMERS = 2  # the last customers have no history and a zero factor vector
PARTNER_PROBABILITY = 0.6


@dataclass(frozen=True)
class Orders:
    customer: npt.NDArray[np.int64]  # per order line
    order: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    quantity: npt.NDArray[np.float64]
    timestamp: npt.NDArray[np.int64]
    n_orders: int


def item_id(index: int) -> str:
    return f"i{index:03d}"


def customer_id(index: int) -> str:
    return f"c{index:04d}"


def planted_partner(index: int) -> int:
    """The item planted as bought together with `index` (2j <-> 2j+1)."""
    return index + 1 if index % 2 == 0 else index - 1


def publish_synthetic_snapshot(
    snapshot_dir: Path,
    *,
    seed: int = 0,
    n_customers: int = 200,
    n_items: int = 120,
    factors: int = 16,
    parameters: Mapping[str, Any] | None = None,
    ann_min_rows: int = ANN_BUILD_MIN_ROWS,
) -> Path:
    """Publish one synthetic snapshot version into `snapshot_dir`; returns its directory.

    `parameters` overrides or extends the manifest's training parameters.
    """
    arrays, counts = synthetic_arrays(
        seed=seed,
        n_customers=n_customers,
        n_items=n_items,
        factors=factors,
        ann_min_rows=ann_min_rows,
    )
    return publish_snapshot(
        snapshot_dir,
        arrays,
        counts=counts,
        parameters={
            "als.factors": factors,
            "buy_again.due_weight": 0.5,
            "blend.buy_again_weight": 0.5,
            "rules.min_pair_count": MIN_PAIR_COUNT,
            "rules.top_k": TOP_PARTNERS,
            "synthetic.seed": seed,
            **(parameters or {}),
        },
        input_info={"source": "synthetic", "last_order_ts": REFERENCE_TS},
        metrics={"fit_seconds": 0.0, "synthetic_order_lines": float(counts["order_lines"])},
    )


def synthetic_arrays(
    *,
    seed: int = 0,
    n_customers: int = 200,
    n_items: int = 120,
    factors: int = 16,
    ann_min_rows: int = ANN_BUILD_MIN_ROWS,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The arrays and counts of a synthetic snapshot (schema.ARRAYS exactly).

    The vector indexes are built for sides of at least `ann_min_rows` rows (by default
    training's threshold, so small snapshots hold none).
    """
    if n_customers <= COLD_CUSTOMERS or n_items < 4:
        raise ValueError("need more than 2 customers and at least 4 items")
    rng = np.random.default_rng(seed)
    item_categories = (np.arange(n_items) % N_CATEGORIES).astype(np.int32)
    item_categories[-1] = -1  # one item without a category
    orders = _simulate_orders(rng, n_customers, n_items, item_categories)
    history = _history(orders, n_customers)
    item_factors = _item_factors(rng, item_categories, factors)
    customer_factors = _customer_factors(rng, history, item_factors, n_customers)
    pairs = _pairs(orders, n_items)
    order_items = sparse.csr_matrix(
        (np.ones(orders.item.size), (orders.order, orders.item)), shape=(orders.n_orders, n_items)
    )
    order_items.data[:] = 1.0
    prices = np.round(rng.lognormal(1.5, 0.6, n_items), 2).astype(np.float32)
    prices[::13] = np.nan
    arrays: dict[str, np.ndarray] = {
        "customer_ids": np.array([customer_id(u) for u in range(n_customers)]),
        "customer_factors": customer_factors,
        "item_ids": np.array([item_id(i) for i in range(n_items)]),
        "item_names": np.array([f"Item {i:03d}" for i in range(n_items)]),
        "item_categories": item_categories,
        "categories": np.array([f"cat{k}" for k in range(N_CATEGORIES)]),
        "item_prices": prices,
        "item_in_stock": (np.arange(n_items) % 7 != 3),
        "item_factors": item_factors,
        "item_buyers": np.bincount(history["history_items"], minlength=n_items).astype(np.int32),
        "item_orders": np.asarray((order_items > 0).sum(axis=0)).ravel().astype(np.int32),
        **history,
        **pairs,
        **_repurchase(orders, history, n_customers, n_items),
    }
    arrays |= serving_arrays(arrays, ann_min_rows=ann_min_rows, customer_indexes=True)
    counts = {
        "customers": n_customers,
        "items": n_items,
        "orders": orders.n_orders,
        "order_lines": int(orders.item.size),
        "rules": int(pairs["pairs_partner"].size),
        "factors": factors,
        "categories": N_CATEGORIES,
    }
    return arrays, counts


def _simulate_orders(
    rng: np.random.Generator, n_customers: int, n_items: int, item_categories: npt.NDArray[np.int32]
) -> Orders:
    popularity = 1.0 / (rng.permutation(n_items) + 5.0) ** 0.8
    customers, order_ids, items, timestamps = [], [], [], []
    n_orders = 0
    for customer in range(n_customers - COLD_CUSTOMERS):
        favourite = customer % N_CATEGORIES
        weights = popularity * np.where(item_categories == favourite, 6.0, 1.0)
        weights /= weights.sum()
        staples = rng.choice(n_items, size=2, replace=False, p=weights)
        for _ in range(1 + rng.poisson(3)):
            basket = set(rng.choice(n_items, size=1 + rng.poisson(3), p=weights).tolist())
            basket.update(int(s) for s in staples if rng.random() < 0.5)
            basket.update(
                planted_partner(i) for i in list(basket) if rng.random() < PARTNER_PROBABILITY
            )
            basket.discard(n_items)  # an odd item count plants item n-1 with item n
            when = REFERENCE_TS - int(rng.uniform(0, 365) * SECONDS_PER_DAY)
            for item in sorted(basket):
                customers.append(customer)
                order_ids.append(n_orders)
                items.append(item)
                timestamps.append(when)
            n_orders += 1
    timestamps[-1] = REFERENCE_TS  # the newest order is the reference "now"
    return Orders(
        customer=np.asarray(customers, dtype=np.int64),
        order=np.asarray(order_ids, dtype=np.int64),
        item=np.asarray(items, dtype=np.int64),
        quantity=rng.integers(1, 7, size=len(items)).astype(np.float64),
        timestamp=np.asarray(timestamps, dtype=np.int64),
        n_orders=n_orders,
    )


def _history(orders: Orders, n_customers: int) -> dict[str, np.ndarray]:
    """CSR customers x items: distinct orders, units, last purchase, confidence."""
    n_items = int(orders.item.max()) + 1
    key = orders.customer * n_items + orders.item
    cells, inverse = np.unique(key, return_inverse=True)
    n_orders = np.bincount(inverse).astype(np.int32)  # each line is one order of one item
    quantity = np.bincount(inverse, weights=orders.quantity).astype(np.float32)
    last_ts = np.full(cells.size, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_ts, inverse, orders.timestamp)
    rows = cells // n_items
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_customers)))).astype(
        np.int64
    )
    return {
        "history_indptr": indptr,
        "history_items": (cells % n_items).astype(np.int32),
        "history_orders": n_orders,
        "history_quantity": quantity,
        "history_last_ts": last_ts,
        "history_confidence": (1.0 + 2.0 * n_orders).astype(np.float32),
    }


def _repurchase(
    orders: Orders, history: dict[str, np.ndarray], n_customers: int, n_items: int
) -> dict[str, np.ndarray]:
    """Repurchase arrays as training would write them, simplified: the raw repeat rate of
    each item's buyers with more than one order (no smoothing), a fixed 30-day cycle, the
    plain share of orders (no recency decay); items 5, 25, 45, ... are once-only."""
    customer_orders = np.zeros(n_customers, dtype=np.int64)
    for customer in range(n_customers):
        customer_orders[customer] = np.unique(orders.order[orders.customer == customer]).size
    rows = np.repeat(np.arange(n_customers), np.diff(history["history_indptr"]))
    items, held = history["history_items"], history["history_orders"]
    eligible = np.bincount(items, weights=customer_orders[rows] > 1, minlength=n_items)
    repeated = np.bincount(items, weights=held > 1, minlength=n_items)
    probability = np.divide(repeated, eligible, out=np.zeros(n_items), where=eligible > 0)
    once_only = np.arange(n_items) % 20 == 5
    probability[once_only] = 0.0
    return {
        "item_repeat_probability": probability.astype(np.float32),
        "item_repeat_cycle_days": np.where(repeated > 0, 30.0, np.nan).astype(np.float32),
        "item_once_only": once_only,
        "customer_orders": customer_orders.astype(np.int32),
        "history_recent_share": (held / customer_orders[rows]).astype(np.float32),
    }


def _item_factors(
    rng: np.random.Generator, item_categories: npt.NDArray[np.int32], factors: int
) -> npt.NDArray[np.float32]:
    centroids = rng.normal(size=(N_CATEGORIES, factors))
    noise = rng.normal(scale=0.35, size=(item_categories.size, factors))
    base = np.where(
        item_categories[:, None] >= 0, centroids[item_categories], rng.normal(size=factors)
    )
    return (0.3 * (base + noise)).astype(np.float32)


def _customer_factors(
    rng: np.random.Generator,
    history: dict[str, np.ndarray],
    item_factors: npt.NDArray[np.float32],
    n_customers: int,
) -> npt.NDArray[np.float32]:
    result = np.zeros((n_customers, item_factors.shape[1]), dtype=np.float32)
    indptr, items, weights = (
        history["history_indptr"],
        history["history_items"],
        history["history_orders"],
    )
    for customer in range(n_customers):
        start, end = indptr[customer], indptr[customer + 1]
        if end > start:
            mean = np.average(item_factors[items[start:end]], axis=0, weights=weights[start:end])
            result[customer] = mean + rng.normal(scale=0.05, size=mean.size)
    return result


def _pairs(orders: Orders, n_items: int) -> dict[str, np.ndarray]:
    """Top partners per item by z-score, as training would publish them."""
    baskets = sparse.csr_matrix(
        (np.ones(orders.item.size), (orders.order, orders.item)), shape=(orders.n_orders, n_items)
    )
    together = (baskets.T @ baskets).toarray()
    np.fill_diagonal(together, 0)
    item_orders = np.diag((baskets.T @ baskets).toarray())
    expected = np.outer(item_orders, item_orders) / orders.n_orders
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(expected > 0, (together - expected) / np.sqrt(expected), 0.0)
    indptr, partner, count, expect, zscore = [0], [], [], [], []
    for item in range(n_items):
        keep = np.flatnonzero((together[item] >= MIN_PAIR_COUNT) & (score[item] > 0))
        best = keep[np.lexsort((keep, -score[item, keep]))][:TOP_PARTNERS]
        partner.extend(best.tolist())
        count.extend(together[item, best].tolist())
        expect.extend(expected[item, best].tolist())
        zscore.extend(score[item, best].tolist())
        indptr.append(len(partner))
    return {
        "pairs_indptr": np.asarray(indptr, dtype=np.int64),
        "pairs_partner": np.asarray(partner, dtype=np.int32),
        "pairs_count": np.asarray(count, dtype=np.int32),
        "pairs_expected": np.asarray(expect, dtype=np.float32),
        "pairs_score": np.asarray(zscore, dtype=np.float32),
    }
