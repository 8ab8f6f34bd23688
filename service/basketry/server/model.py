"""The serving model: a verified snapshot's memory-mapped arrays plus a few small extras.

Every array a request reads is the snapshot's own, memory-mapped read-only (schema
version 3 stores what serving used to derive at load: unit vectors, warm customers, the
buyers-per-item CSR, the vector indexes). Nothing customer- or history-sized is copied or
computed here, so a load costs milliseconds beyond verification, and server processes
serving the same version share its pages through the page cache. Ids are looked up by
binary search over the sorted id arrays (basketry.server.ids). What is still computed is
item- or factor-sized: the item Gram matrix, popularity order, the partner matrix.

A mapped file stays readable after a newer version prunes it (unlink keeps the inode while
it is mapped). The model is immutable once built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import sparse

from basketry.server import foldin
from basketry.server.foldin import FoldInRule
from basketry.server.ids import SortedIdIndex, Strings
from basketry.server.nearest import ANN_MIN_ROWS
from basketry.snapshot import LoadedSnapshot, Refusal, SnapshotError
from basketry.snapshot.vector_index import VectorIndex, view_index

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
ArrayT = TypeVar("ArrayT", bound=np.ndarray)


@dataclass(frozen=True)
class BlendRule:
    """How the strategies weigh their candidate lists (see basketry.server.recommend).

    Read from the manifest's parameters (the names in PARAMETERS) so training and
    `basketry tune` can set them; the defaults here are the measured ones.
    """

    buy_again_weight: float = 0.9  # balanced: buy-again; the rest goes to discovery
    copurchase_weight: float = 0.5  # discovery: partners of recent orders; the rest: ALS
    context_weight: float = 0.5  # partners of the cart, for a warm customer
    due_weight: float = 0.5  # buy-again: how much an item not yet due is held back
    repeat_exponent: float = 1.0  # buy-again: power of the item's repeat probability


# Manifest parameter -> (BlendRule field, lowest, highest allowed value).
PARAMETERS = {
    "blend.buy_again_weight": ("buy_again_weight", 0.0, 1.0),
    "blend.copurchase_weight": ("copurchase_weight", 0.0, 1.0),
    "blend.context_weight": ("context_weight", 0.0, math.inf),
    "buy_again.due_weight": ("due_weight", 0.0, 1.0),
    "buy_again.repeat_exponent": ("repeat_exponent", 0.0, math.inf),
}


@dataclass(frozen=True, eq=False)
class ServingModel:
    version: str
    created_at: datetime
    manifest: Mapping[str, Any]
    # customers
    customer_ids: Strings
    customer_index: SortedIdIndex
    customer_factors: F32
    customer_unit: F32
    customer_warm: Bools  # has a non-zero factor vector and some history
    customer_orders: I32  # orders the customer placed in the training data
    # items
    item_ids: Strings
    item_names: Strings
    item_index: SortedIdIndex
    item_categories: I32
    category_index: Mapping[str, int]
    item_prices: F32
    item_in_stock: Bools
    item_factors: F32
    item_gram: npt.NDArray[np.float64]  # item_factors' Gram matrix, for ALS fold-in
    item_unit: F32
    item_has_factors: Bools
    item_orders: I32
    item_repeat_probability: F32  # P(bought again in a later order | bought), smoothed
    item_repeat_cycle_days: F32  # median days between purchases, NaN = never repeated
    item_once_only: Bools  # never offered again to a customer who bought it
    popularity: npt.NDArray[np.float64]  # distinct buyers / most buyers of any item, 0..1
    popularity_order: I64  # items by buyers, most first (ties: lower index)
    # purchase history, CSR customers x items, and its transpose (buyers per item)
    history_indptr: I64
    history_items: I32
    history_orders: I32
    history_quantity: F32
    history_last_ts: I64
    history_confidence: F32
    history_recent_share: F32  # recency-weighted share of the customer's orders holding it
    buyers_indptr: I64
    buyers_customers: I32
    # co-purchase partners, CSR items x partners
    pairs_indptr: I64
    pairs_partner: I32
    pairs_count: I32
    pairs_score: F32
    partner_matrix: sparse.csr_matrix  # items x items, positive pairs_score, float64
    # scalars
    total_orders: int
    reference_ts: int  # "now" for recency: the newest order in the training data
    blend: BlendRule
    fold_in: FoldInRule  # how recorded orders update a customer (basketry.server.history)
    # approximate top-k (basketry.server.nearest); None: exact top-k over every row
    item_cosine_index: VectorIndex | None = None
    item_product_index: VectorIndex | None = None
    customer_cosine_index: VectorIndex | None = None
    customer_product_index: VectorIndex | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def item_indices(self, item_ids: Iterable[str]) -> I64:
        """Indices of the known ids, in order, duplicates dropped; unknown ids are skipped."""
        seen: dict[int, None] = {}
        for item_id in item_ids:
            index = self.item_index.get(item_id)
            if index is not None:
                seen[index] = None
        return np.fromiter(seen, dtype=np.int64, count=len(seen))

    def history_slice(self, customer: int) -> slice:
        return slice(int(self.history_indptr[customer]), int(self.history_indptr[customer + 1]))


def build_model(snapshot: LoadedSnapshot, *, ann_min_rows: int = ANN_MIN_ROWS) -> ServingModel:
    """Build the serving model; SnapshotError if the manifest lacks what serving needs.

    The snapshot's vector indexes are used for a side (items, customers) with at least
    `ann_min_rows` rows; below that, or when the snapshot holds none, top-k is exact.
    """
    # Plain ndarray views of the maps (np.memmap's subclass hooks cost on every operation).
    arrays = {name: _frozen(np.asarray(array)) for name, array in snapshot.arrays.items()}
    manifest = snapshot.manifest
    parameters = manifest.get("parameters") or {}
    item_factors = arrays["item_factors"]
    n_items, n_factors = item_factors.shape
    buyers = arrays["item_buyers"].astype(np.float64)
    use_items = n_items >= ann_min_rows
    use_customers = arrays["customer_ids"].shape[0] >= ann_min_rows

    def index(name: str, used: bool) -> VectorIndex | None:
        return view_index(arrays[name], ndim=n_factors) if used else None

    return ServingModel(
        version=snapshot.version,
        created_at=_created_at(manifest),
        manifest=manifest,
        customer_ids=Strings(arrays["customer_ids"]),
        customer_index=SortedIdIndex(arrays["customer_ids"]),
        customer_factors=arrays["customer_factors"],
        customer_unit=arrays["customer_unit"],
        customer_warm=arrays["customer_warm"],
        customer_orders=arrays["customer_orders"],
        item_ids=Strings(arrays["item_ids"]),
        item_names=Strings(arrays["item_names"]),
        item_index=SortedIdIndex(arrays["item_ids"]),
        item_categories=arrays["item_categories"],
        category_index={name: i for i, name in enumerate(arrays["categories"].tolist())},
        item_prices=arrays["item_prices"],
        item_in_stock=arrays["item_in_stock"],
        item_factors=item_factors,
        item_gram=_frozen(foldin.item_gram(item_factors)),
        item_unit=arrays["item_unit"],
        item_has_factors=_frozen(np.any(arrays["item_unit"] != 0, axis=1)),
        item_orders=arrays["item_orders"],
        item_repeat_probability=arrays["item_repeat_probability"],
        item_repeat_cycle_days=arrays["item_repeat_cycle_days"],
        item_once_only=arrays["item_once_only"],
        popularity=_frozen(buyers / buyers.max() if buyers.size and buyers.max() > 0 else buyers),
        popularity_order=_frozen(np.lexsort((np.arange(buyers.size), -buyers)).astype(np.int64)),
        history_indptr=arrays["history_indptr"],
        history_items=arrays["history_items"],
        history_orders=arrays["history_orders"],
        history_quantity=arrays["history_quantity"],
        history_last_ts=arrays["history_last_ts"],
        history_confidence=arrays["history_confidence"],
        history_recent_share=arrays["history_recent_share"],
        buyers_indptr=arrays["buyers_indptr"],
        buyers_customers=arrays["buyers_customers"],
        pairs_indptr=arrays["pairs_indptr"],
        pairs_partner=arrays["pairs_partner"],
        pairs_count=arrays["pairs_count"],
        pairs_score=arrays["pairs_score"],
        partner_matrix=_partner_matrix(arrays, n_items),
        total_orders=max(1, int(manifest["counts"]["orders"])),
        reference_ts=_reference_ts(manifest, arrays["history_last_ts"]),
        blend=BlendRule(**_rule_values(parameters, BlendRule(), PARAMETERS)),
        fold_in=FoldInRule(**_rule_values(parameters, FoldInRule(), foldin.PARAMETERS)),
        item_cosine_index=index("item_cosine_index", use_items),
        item_product_index=index("item_product_index", use_items),
        customer_cosine_index=index("customer_cosine_index", use_customers),
        customer_product_index=index("customer_product_index", use_customers),
    )


def _frozen(array: ArrayT) -> ArrayT:
    array.flags.writeable = False
    return array


def _rule_values(
    parameters: Mapping[str, Any],
    defaults: object,
    fields: Mapping[str, tuple[str, float, float]],
) -> dict[str, float]:
    """Each rule field from its manifest parameter (checked), else the rule's default."""
    return {
        field: _parameter(parameters, key, getattr(defaults, field), low=low, high=high)
        for key, (field, low, high) in fields.items()
    }


def _partner_matrix(arrays: Mapping[str, np.ndarray], n_items: int) -> sparse.csr_matrix:
    """Items x partners with the positive partner scores (what discovery sums)."""
    # float64: the recent-partners source sums products in float64 (basketry.server.recommend).
    score = np.maximum(arrays["pairs_score"], 0.0).astype(np.float64)
    return sparse.csr_matrix(
        (score, arrays["pairs_partner"], arrays["pairs_indptr"]), shape=(n_items, n_items)
    )


def _created_at(manifest: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(manifest["created_at"]))
    except (KeyError, ValueError) as exc:
        raise SnapshotError(
            f"manifest created_at is missing or not ISO 8601: {exc}", Refusal.MANIFEST
        ) from exc


def _reference_ts(manifest: Mapping[str, Any], last_ts: I64) -> int:
    value = (manifest.get("input") or {}).get("last_order_ts")
    if value is None:
        # Older snapshots: the newest purchase in the history is the same instant.
        return int(last_ts.max()) if last_ts.size else 0
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SnapshotError(
            f"manifest input.last_order_ts must be unix seconds, got {value!r}", Refusal.MANIFEST
        )
    return int(value)


def _parameter(
    parameters: Mapping[str, Any], key: str, default: float, *, low: float, high: float = math.inf
) -> float:
    value = parameters.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise SnapshotError(
            f"manifest parameter {key} must be a number in [{low}, {high}], got {value!r}",
            Refusal.MANIFEST,
        )
    return float(value)
