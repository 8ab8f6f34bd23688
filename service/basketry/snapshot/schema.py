"""Schema version 3 of the snapshot: every array, its dtype and its shape.

Shapes are written with symbolic dimensions that must agree across arrays:
  C  customers            I  items             F  latent factors
  K  categories           H  history entries (customer-item pairs, CSR)
  P  co-purchase partner entries (item-partner pairs, CSR)
  C1 = C + 1, I1 = I + 1 (CSR row pointers)
  *  any length (a serialized vector index; empty when none was built)

Id and name arrays are fixed-width unicode (`<U…`), never object arrays; customer_ids and
item_ids are sorted ascending and unique, so a server finds an id by binary search.

Version 2 added the repurchase statistics (item_repeat_probability, item_repeat_cycle_days,
item_once_only, customer_orders, history_recent_share). Version 3 added what serving used
to derive at load (unit-length factors, warm customers, the buyers-per-item CSR) and the
approximate nearest-neighbour indexes (basketry.snapshot.derived), so a server
memory-maps every array and computes nothing large. Older versions are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 3
MANIFEST_NAME = "manifest.json"
LATEST_NAME = "LATEST"


@dataclass(frozen=True)
class ArraySpec:
    """One array of the snapshot: its dtype kind and symbolic shape."""

    kind: str  # numpy dtype.kind plus itemsize, e.g. "f4", "i4", "i8", "b1"; "U" = any width
    shape: tuple[str, ...]
    doc: str


ARRAYS: dict[str, ArraySpec] = {
    # --- customers
    "customer_ids": ArraySpec("U", ("C",), "customer id per row, as in the order history"),
    "customer_factors": ArraySpec("f4", ("C", "F"), "ALS customer factors"),
    # --- items
    "item_ids": ArraySpec("U", ("I",), "item id per column, as in the order history"),
    "item_names": ArraySpec("U", ("I",), "display name ('' if unknown)"),
    "item_categories": ArraySpec("i4", ("I",), "index into categories, -1 = none"),
    "categories": ArraySpec("U", ("K",), "category names"),
    "item_prices": ArraySpec("f4", ("I",), "unit price, NaN if unknown"),
    "item_in_stock": ArraySpec("b1", ("I",), "catalog stock flag (True without a catalog)"),
    "item_factors": ArraySpec("f4", ("I", "F"), "ALS item factors"),
    "item_buyers": ArraySpec("i4", ("I",), "distinct customers who bought the item (popularity)"),
    "item_orders": ArraySpec("i4", ("I",), "orders containing the item (n_a of the rules)"),
    "item_repeat_probability": ArraySpec(
        "f4", ("I",), "P(a buyer buys it again in a later order), smoothed toward its category"
    ),
    "item_repeat_cycle_days": ArraySpec(
        "f4", ("I",), "median days between a customer's purchases of it, NaN = never repeated"
    ),
    "item_once_only": ArraySpec("b1", ("I",), "never offered again to a customer who bought it"),
    "customer_orders": ArraySpec("i4", ("C",), "orders the customer placed"),
    # --- purchase history, CSR customers x items, columns sorted within a row
    "history_indptr": ArraySpec("i8", ("C1",), "row pointers"),
    "history_items": ArraySpec("i4", ("H",), "item index"),
    "history_orders": ArraySpec("i4", ("H",), "distinct orders holding the item"),
    "history_quantity": ArraySpec("f4", ("H",), "total units bought"),
    "history_last_ts": ArraySpec("i8", ("H",), "last purchase, unix seconds UTC"),
    "history_confidence": ArraySpec("f4", ("H",), "ALS confidence weight used in training"),
    "history_recent_share": ArraySpec(
        "f4", ("H",), "recency-weighted share of the customer's orders holding the item"
    ),
    # --- co-purchase partners, CSR items x partners, best partner first
    "pairs_indptr": ArraySpec("i8", ("I1",), "row pointers"),
    "pairs_partner": ArraySpec("i4", ("P",), "partner item index"),
    "pairs_count": ArraySpec("i4", ("P",), "orders holding both items (n_ab)"),
    "pairs_expected": ArraySpec("f4", ("P",), "n_ab expected by chance, basket-size aware"),
    "pairs_score": ArraySpec("f4", ("P",), "(n_ab - c * E) / n_a, chance-corrected confidence"),
    # --- derived for serving (basketry.snapshot.derived computes them from the arrays above)
    "customer_unit": ArraySpec("f4", ("C", "F"), "customer factors scaled to unit length"),
    "customer_warm": ArraySpec("b1", ("C",), "a non-zero factor vector and some history"),
    "item_unit": ArraySpec("f4", ("I", "F"), "item factors scaled to unit length"),
    "buyers_indptr": ArraySpec("i8", ("I1",), "buyers per item (history transposed): pointers"),
    "buyers_customers": ArraySpec("i4", ("H",), "customer index, ascending within an item"),
    "item_cosine_index": ArraySpec("u1", ("*",), "USearch index of item_unit (cosine)"),
    "item_product_index": ArraySpec("u1", ("*",), "USearch index of item factors (inner product)"),
    "customer_cosine_index": ArraySpec("u1", ("*",), "USearch index of customer_unit (cosine)"),
    "customer_product_index": ArraySpec(
        "u1", ("*",), "USearch index of customer factors (inner product)"
    ),
}

# Scalar facts the reader needs besides the arrays; stored in manifest["counts"].
REQUIRED_COUNTS = ("customers", "items", "orders", "order_lines", "rules", "factors", "categories")


def dimension_sizes(
    counts: dict[str, int], history_entries: int, pair_entries: int
) -> dict[str, int]:
    """Map the symbolic dimensions to sizes for one snapshot."""
    return {
        "C": counts["customers"],
        "I": counts["items"],
        "F": counts["factors"],
        "K": counts["categories"],
        "H": history_entries,
        "P": pair_entries,
        "C1": counts["customers"] + 1,
        "I1": counts["items"] + 1,
    }
