"""The in-memory serving model built once from a verified snapshot.

Everything a request needs is computed here at load time (id lookups, unit-length factor
copies for cosine similarity, the customers-by-item index, popularity order), so requests
only index and multiply. Arrays are copied out of the memory map into RAM (a swap never
page-faults on a pruned file) and marked read-only: the model is immutable once built.
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
from basketry.snapshot import LoadedSnapshot, SnapshotError

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
    customer_ids: tuple[str, ...]
    customer_index: Mapping[str, int]
    customer_factors: F32
    customer_unit: F32
    customer_warm: Bools  # has a non-zero factor vector and some history
    customer_orders: I32  # orders the customer placed in the training data
    # items
    item_ids: tuple[str, ...]
    item_names: tuple[str, ...]
    item_index: Mapping[str, int]
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
    partner_matrix: sparse.csr_matrix  # items x items, positive pairs_score, float32
    # scalars
    total_orders: int
    reference_ts: int  # "now" for recency: the newest order in the training data
    blend: BlendRule
    fold_in: FoldInRule  # how recorded orders update a customer (basketry.server.history)

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


def build_model(snapshot: LoadedSnapshot) -> ServingModel:
    """Build the serving model; SnapshotError if the manifest lacks what serving needs."""
    arrays = {name: _in_ram(array) for name, array in snapshot.arrays.items()}
    manifest = snapshot.manifest
    parameters = manifest.get("parameters") or {}
    customer_ids = tuple(arrays["customer_ids"].tolist())
    item_ids = tuple(arrays["item_ids"].tolist())
    categories = arrays["categories"].tolist()
    history_indptr = arrays["history_indptr"]
    customer_unit, customer_nonzero = _unit_rows(arrays["customer_factors"])
    item_unit, item_nonzero = _unit_rows(arrays["item_factors"])
    buyers = arrays["item_buyers"].astype(np.float64)
    buyers_indptr, buyers_customers = _transpose_csr(
        history_indptr, arrays["history_items"], len(item_ids)
    )
    return ServingModel(
        version=snapshot.version,
        created_at=_created_at(manifest),
        manifest=manifest,
        customer_ids=customer_ids,
        customer_index=_unique_index(customer_ids, "customer_ids"),
        customer_factors=arrays["customer_factors"],
        customer_unit=customer_unit,
        customer_warm=_frozen(customer_nonzero & (np.diff(history_indptr) > 0)),
        customer_orders=arrays["customer_orders"],
        item_ids=item_ids,
        item_names=tuple(arrays["item_names"].tolist()),
        item_index=_unique_index(item_ids, "item_ids"),
        item_categories=arrays["item_categories"],
        category_index={name: i for i, name in enumerate(categories)},
        item_prices=arrays["item_prices"],
        item_in_stock=arrays["item_in_stock"],
        item_factors=arrays["item_factors"],
        item_gram=_frozen(foldin.item_gram(arrays["item_factors"])),
        item_unit=item_unit,
        item_has_factors=_frozen(item_nonzero),
        item_orders=arrays["item_orders"],
        item_repeat_probability=arrays["item_repeat_probability"],
        item_repeat_cycle_days=arrays["item_repeat_cycle_days"],
        item_once_only=arrays["item_once_only"],
        popularity=_frozen(buyers / buyers.max() if buyers.size and buyers.max() > 0 else buyers),
        popularity_order=_frozen(np.lexsort((np.arange(buyers.size), -buyers)).astype(np.int64)),
        history_indptr=history_indptr,
        history_items=arrays["history_items"],
        history_orders=arrays["history_orders"],
        history_quantity=arrays["history_quantity"],
        history_last_ts=arrays["history_last_ts"],
        history_confidence=arrays["history_confidence"],
        history_recent_share=arrays["history_recent_share"],
        buyers_indptr=buyers_indptr,
        buyers_customers=buyers_customers,
        pairs_indptr=arrays["pairs_indptr"],
        pairs_partner=arrays["pairs_partner"],
        pairs_count=arrays["pairs_count"],
        pairs_score=arrays["pairs_score"],
        partner_matrix=_partner_matrix(arrays, len(item_ids)),
        total_orders=max(1, int(manifest["counts"]["orders"])),
        reference_ts=_reference_ts(manifest, arrays["history_last_ts"]),
        blend=BlendRule(**_rule_values(parameters, BlendRule(), PARAMETERS)),
        fold_in=FoldInRule(**_rule_values(parameters, FoldInRule(), foldin.PARAMETERS)),
    )


def _in_ram(array: np.ndarray) -> np.ndarray:
    return _frozen(np.array(array, copy=True, order="C"))


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
    score = np.maximum(arrays["pairs_score"], 0.0).astype(np.float32)
    return sparse.csr_matrix(
        (score, arrays["pairs_partner"], arrays["pairs_indptr"]), shape=(n_items, n_items)
    )


def _unit_rows(factors: F32) -> tuple[F32, Bools]:
    norms = np.linalg.norm(factors, axis=1)
    nonzero = norms > 0
    unit = np.zeros_like(factors)
    unit[nonzero] = factors[nonzero] / norms[nonzero, None]
    return _frozen(unit), nonzero


def _transpose_csr(indptr: I64, indices: I32, n_columns: int) -> tuple[I64, I32]:
    """The CSC view of a CSR pattern: for each column, its rows in ascending order."""
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int32), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    counts = np.bincount(indices, minlength=n_columns)
    column_indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return _frozen(column_indptr), _frozen(rows[order])


def _unique_index(ids: tuple[str, ...], name: str) -> dict[str, int]:
    index = {value: i for i, value in enumerate(ids)}
    if len(index) != len(ids):
        raise SnapshotError(f"{name} holds duplicate ids")
    return index


def _created_at(manifest: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(manifest["created_at"]))
    except (KeyError, ValueError) as exc:
        raise SnapshotError(f"manifest created_at is missing or not ISO 8601: {exc}") from exc


def _reference_ts(manifest: Mapping[str, Any], last_ts: I64) -> int:
    value = (manifest.get("input") or {}).get("last_order_ts")
    if value is None:
        # Older snapshots: the newest purchase in the history is the same instant.
        return int(last_ts.max()) if last_ts.size else 0
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SnapshotError(f"manifest input.last_order_ts must be unix seconds, got {value!r}")
    return int(value)


def _parameter(
    parameters: Mapping[str, Any], key: str, default: float, *, low: float, high: float = math.inf
) -> float:
    value = parameters.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise SnapshotError(
            f"manifest parameter {key} must be a number in [{low}, {high}], got {value!r}"
        )
    return float(value)
