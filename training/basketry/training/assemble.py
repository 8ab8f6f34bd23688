"""Gathers the trained parts into the snapshot's arrays (schema.ARRAYS), counts and input info."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from basketry.snapshot.derived import serving_arrays
from basketry.training.catalog import Catalog
from basketry.training.cleaning import CleanOrders
from basketry.training.copurchase import Baskets, Partners
from basketry.training.items import ItemAttributes
from basketry.training.matrices import History, IndexedLines
from basketry.training.popularity import top_items, top_items_by_category
from basketry.training.reading import FileInfo
from basketry.training.repurchase import RepurchaseStats


@dataclass(frozen=True)
class TrainedParts:
    indexed: IndexedLines
    history: History
    attributes: ItemAttributes
    customer_factors: np.ndarray
    item_factors: np.ndarray
    item_buyers: np.ndarray
    baskets: Baskets
    partners: Partners
    repurchase: RepurchaseStats


def snapshot_arrays(
    parts: TrainedParts, *, customer_indexes: bool = False
) -> dict[str, np.ndarray]:
    """The trained arrays plus what serving derives from them (unit vectors, the buyers
    CSR, vector indexes for a large catalogue and, on request, a large customer base:
    basketry.snapshot.derived)."""
    trained = _trained_arrays(parts)
    return trained | serving_arrays(trained, customer_indexes=customer_indexes)


def _trained_arrays(parts: TrainedParts) -> dict[str, np.ndarray]:
    history, partners, attributes = parts.history, parts.partners, parts.attributes
    repurchase = parts.repurchase
    return {
        "customer_ids": parts.indexed.customer_ids,
        "customer_factors": parts.customer_factors,
        "item_ids": parts.indexed.item_ids,
        "item_names": attributes.names,
        "item_categories": attributes.categories,
        "categories": attributes.category_names,
        "item_prices": attributes.prices,
        "item_in_stock": attributes.in_stock,
        "item_factors": parts.item_factors,
        "item_buyers": parts.item_buyers,
        "item_orders": parts.baskets.item_orders,
        "item_repeat_probability": repurchase.item_repeat_probability,
        "item_repeat_cycle_days": repurchase.item_repeat_cycle_days,
        "item_once_only": repurchase.item_once_only,
        "customer_orders": repurchase.customer_orders,
        "history_indptr": history.indptr,
        "history_items": history.items,
        "history_orders": history.orders,
        "history_quantity": history.quantity,
        "history_last_ts": history.last_ts,
        "history_confidence": history.confidence,
        "history_recent_share": repurchase.history_recent_share,
        "pairs_indptr": partners.indptr,
        "pairs_partner": partners.partner,
        "pairs_count": partners.count,
        "pairs_expected": partners.expected,
        "pairs_score": partners.score,
    }


def snapshot_counts(parts: TrainedParts) -> dict[str, int]:
    """schema.REQUIRED_COUNTS plus the counts a reader of the manifest will ask about."""
    attributes = parts.attributes
    return {
        "customers": int(parts.indexed.customer_ids.shape[0]),
        "items": int(parts.indexed.item_ids.shape[0]),
        "orders": parts.baskets.orders,
        "order_lines": parts.indexed.lines.height,
        "rules": int(parts.partners.partner.shape[0]),
        "factors": int(parts.item_factors.shape[1]),
        "categories": int(attributes.category_names.shape[0]),
        "orders_total": parts.indexed.order_count,
        "orders_too_big": parts.baskets.too_big,
        "history_entries": int(parts.history.items.shape[0]),
        "items_with_partners": int((np.diff(parts.partners.indptr) > 0).sum()),
        "catalog_items": attributes.catalog_items,
        "catalog_items_not_ordered": attributes.catalog_items_not_ordered,
        "items_missing_from_catalog": attributes.items_missing_from_catalog,
        "once_only_items": int(parts.repurchase.item_once_only.sum()),
    }


def snapshot_input_info(
    files: list[FileInfo], catalog: Catalog | None, cleaned: CleanOrders, parts: TrainedParts
) -> dict[str, Any]:
    """The manifest's input section: what was read, what was dropped, the time span."""
    ts = cleaned.lines["ts"]
    first, last = int(ts.min()), int(ts.max())  # type: ignore[arg-type]
    attributes, ids = parts.attributes, parts.indexed.item_ids
    orders = parts.baskets.item_orders
    return {
        "files": [info.as_manifest() for info in files],
        "catalog": catalog.file.as_manifest() if catalog else None,
        "rows_read": cleaned.rows_read,
        "rows_clean": cleaned.lines.height,
        "rows_dropped": cleaned.rows_dropped,
        "dropped": dict(cleaned.dropped),
        "first_order_ts": first,
        # The reference "now" for buy-again recency on the server.
        "last_order_ts": last,
        "first_order_at": datetime.fromtimestamp(first, UTC).isoformat(),
        "last_order_at": datetime.fromtimestamp(last, UTC).isoformat(),
        "top_items": top_items(parts.item_buyers, orders, ids),
        "top_items_by_category": top_items_by_category(
            parts.item_buyers, orders, ids, attributes.categories, attributes.category_names
        ),
    }
