"""Checks an array set against the schema; shared by the writer and the reader.

Refusals carry their reason: counts are the manifest's (manifest), everything else is an
array's (array), and the vector indexes are checked byte by byte (index) because native
code reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from basketry.snapshot.errors import Refusal, SnapshotError
from basketry.snapshot.index_layout import check_index_layout
from basketry.snapshot.schema import ARRAYS, REQUIRED_COUNTS, ArraySpec, dimension_sizes

# Each stored vector index and the dimension its keys number the rows of.
INDEX_ROWS = {
    "item_cosine_index": "I",
    "item_product_index": "I",
    "customer_cosine_index": "C",
    "customer_product_index": "C",
}


def check_counts(counts: Mapping[str, object]) -> dict[str, int]:
    """The manifest counts the shapes depend on, as ints; refuses missing or negative ones."""
    checked: dict[str, int] = {}
    for key in REQUIRED_COUNTS:
        value = counts.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SnapshotError(
                f"manifest counts.{key} must be a non-negative integer, got {value!r}",
                Refusal.MANIFEST,
            )
        checked[key] = value
    return checked


def check_arrays(arrays: Mapping[str, np.ndarray], counts: Mapping[str, object]) -> None:
    """Raise SnapshotError unless `arrays` is exactly the schema with consistent shapes."""
    missing = sorted(set(ARRAYS) - set(arrays))
    extra = sorted(set(arrays) - set(ARRAYS))
    if missing or extra:
        raise SnapshotError(
            f"array set does not match the schema: missing {missing}, unexpected {extra}",
            Refusal.ARRAY,
        )
    sizes = dimension_sizes(
        check_counts(counts),
        history_entries=int(arrays["history_items"].shape[0]),
        pair_entries=int(arrays["pairs_partner"].shape[0]),
    )
    for name, spec in ARRAYS.items():
        _check_one(name, spec, arrays[name], sizes)
    _check_csr("history", arrays["history_indptr"], arrays["history_items"], sizes["I"])
    _check_csr("pairs", arrays["pairs_indptr"], arrays["pairs_partner"], sizes["I"])
    _check_csr("buyers", arrays["buyers_indptr"], arrays["buyers_customers"], sizes["C"])
    for name in ("customer_ids", "item_ids"):
        _check_sorted_unique(name, arrays[name])
    categories = arrays["item_categories"]
    if categories.size and (categories.min() < -1 or categories.max() >= sizes["K"]):
        raise _array_error("item_categories holds an index outside the categories array")
    for name in ("customer_factors", "item_factors"):
        if not np.isfinite(arrays[name]).all():
            raise _array_error(f"{name} holds NaN or infinite values")
    for name, rows in INDEX_ROWS.items():
        check_index_layout(arrays[name], ndim=sizes["F"], rows=sizes[rows])


def _check_one(name: str, spec: ArraySpec, array: np.ndarray, sizes: Mapping[str, int]) -> None:
    if array.dtype.hasobject:
        raise _array_error(f"{name}: object arrays are refused (they would need pickle)")
    if spec.kind == "U":
        if array.dtype.kind != "U":
            raise _array_error(f"{name}: expected a unicode string array, got dtype {array.dtype}")
    elif array.dtype != np.dtype(spec.kind):
        raise _array_error(f"{name}: expected dtype {np.dtype(spec.kind)}, got {array.dtype}")
    # "*" is any length: the other dimensions must still match.
    expected = tuple(
        array.shape[axis] if dim == "*" and axis < array.ndim else sizes.get(dim, -1)
        for axis, dim in enumerate(spec.shape)
    )
    if array.shape != expected:
        raise _array_error(f"{name}: expected shape {expected} {spec.shape}, got {array.shape}")


def _check_csr(prefix: str, indptr: np.ndarray, indices: np.ndarray, n_columns: int) -> None:
    if indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise _array_error(f"{prefix}_indptr must start at 0 and end at the number of entries")
    if indptr.size > 1 and (np.diff(indptr) < 0).any():
        raise _array_error(f"{prefix}_indptr must not decrease")
    if indices.size and (indices.min() < 0 or indices.max() >= n_columns):
        raise _array_error(f"{prefix}: an index is outside 0..{n_columns - 1}")


def _check_sorted_unique(name: str, ids: np.ndarray) -> None:
    """Servers look ids up by binary search, which needs them strictly ascending."""
    if ids.size > 1 and not (ids[1:] > ids[:-1]).all():
        raise _array_error(f"{name} must be sorted ascending without duplicates")


def _array_error(problem: str) -> SnapshotError:
    return SnapshotError(problem, Refusal.ARRAY)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
