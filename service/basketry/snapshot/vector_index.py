"""Approximate nearest-neighbour indexes over factor vectors, stored in the snapshot.

USearch (HNSW) rather than faiss: a USearch index serializes to one byte buffer and can be
*viewed* in place from a buffer, so the index is a plain uint8 `.npy` array of the snapshot
(checksummed like the rest, no pickle) that every server process memory-maps and shares
through the page cache; faiss reads an index into private memory (its mmap flag covers
only some IVF layouts and needs a raw file). Building a graph costs training seconds per
100k rows on 2 cores, so it happens once in training, never at load.

Both kinds rank by inner product over the stored rows (a key's distance is 1 - x . y):
- cosine: the rows of a unit-factor array, so inner product is cosine similarity;
- product: the raw factor rows, for maximum inner product search (ALS preference). HNSW
  over inner product is not a metric space but finds the largest products well on ALS
  factors (measured); the reduction of MIPS to cosine by an extra coordinate (Bachrach et
  al. 2014) measured far worse here (recall@10 0.58 against 0.99 on clustered rows).
Zero rows (untrained items, cold customers) are left out: they are like nothing.
Vectors are stored as float16 (half the bytes; recall measured in bench/ann_recall.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from usearch.index import Index, Matches

from basketry.snapshot.errors import Refusal, SnapshotError

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
Blob = npt.NDArray[np.uint8]

# Training builds a side's indexes from this many rows (servers choose when to use them).
ANN_BUILD_MIN_ROWS = 20_000
CONNECTIVITY = 16
EXPANSION_ADD = 128  # build effort: 64 measured recall@10 0.94 on customers, 128: 0.98+
EXPANSION_SEARCH = 256
STORED_DTYPE = "f16"


def cosine_index(unit_rows: F32) -> Blob:
    """An index of the non-zero rows of a unit-length array, keyed by row number."""
    keys = np.flatnonzero(np.any(unit_rows != 0, axis=1))
    return _built(unit_rows[keys], keys, "cosine")


def product_index(rows: F32) -> Blob:
    """An index that finds the rows with the largest inner product with a query."""
    keys = np.flatnonzero(np.any(rows != 0, axis=1))
    return _built(rows[keys], keys, "product")


def _built(vectors: F32, keys: I64, kind: str) -> Blob:
    log.info("building the %s index of %s vectors ...", kind, f"{keys.size:,}")
    started = time.perf_counter()
    index = Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype=STORED_DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
    )
    if keys.size:
        # One thread: the same graph from the same factors, so a retrained snapshot answers
        # alike (threads=0 built graphs that differed run to run, and with them answers).
        index.add(keys.astype(np.uint64), np.ascontiguousarray(vectors), threads=1)
    data = index.save()
    if data is None:
        raise SnapshotError("USearch returned no bytes for a saved index")
    log.info(
        "%s index of %s vectors built in %.1f s",
        kind,
        f"{keys.size:,}",
        time.perf_counter() - started,
    )
    return np.frombuffer(data, dtype=np.uint8)  # read-only, as the snapshot's arrays are


@dataclass(frozen=True, eq=False)
class VectorIndex:
    """A stored index, viewed in place (its bytes stay in the snapshot's memory map)."""

    index: Index
    data: Blob  # the mapped bytes the index reads in place: held so they outlive it

    @property
    def size(self) -> int:
        return len(self.index)

    def nearest(self, queries: F32, count: int) -> list[I64]:
        """Per query row, the keys of up to `count` nearest rows, nearest first."""
        vectors = np.asarray(queries, dtype=np.float32)
        matches = self.index.search(np.ascontiguousarray(vectors), count, threads=1)
        if isinstance(matches, Matches):  # what USearch answers for a single query
            return [np.asarray(matches.keys, dtype=np.int64)]
        keys = np.asarray(matches.keys, dtype=np.int64).reshape(vectors.shape[0], -1)
        found = np.asarray(matches.counts, dtype=np.int64).reshape(-1)
        return [keys[row, : found[row]] for row in range(vectors.shape[0])]


def view_index(blob: Blob, *, ndim: int) -> VectorIndex | None:
    """The index stored in `blob` (None when the snapshot holds none); SnapshotError if the
    bytes are not an index of `ndim`-dimensional vectors.

    `blob` must come from a loaded snapshot: load_snapshot checked its layout byte by byte
    (basketry.snapshot.index_layout), which USearch does not do before reading it.
    """
    if blob.size == 0:
        return None
    try:
        # A memoryview of the mapped array: USearch reads the snapshot's pages in place.
        index = Index.restore(blob.data, view=True, expansion_search=EXPANSION_SEARCH)
    except (RuntimeError, ValueError) as exc:
        raise SnapshotError(f"a vector index does not open: {exc}", Refusal.INDEX) from exc
    if index is None or index.ndim != ndim:
        raise SnapshotError(
            f"a vector index does not hold {ndim}-dimensional vectors", Refusal.INDEX
        )
    return VectorIndex(index=index, data=blob)
