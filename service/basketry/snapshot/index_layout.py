"""Checks the bytes of a stored USearch index before native code reads them.

USearch itself checks only that a serialized index is long enough for the node sizes its
header declares. A neighbour slot, a level or the entry point out of range passes that, and
the first search then reads outside the buffer and kills the process (measured on USearch
2.26: any one neighbour slot of a 500-vector index set to 0xFFFFFFFF crashed a search with
SIGSEGV). Checksums catch a damaged file; this catches an index that is wrong yet
consistently checksummed (a bug, a hand-edited manifest), so a server refuses the version
instead of dying. Every neighbour list is read once: numpy work in the order of the file
size, like the checksum.

The layout is USearch 2.x's dense serialization, as basketry.snapshot.vector_index builds
indexes (inner product, float16 vectors, u64 keys, u32 slots), all little-endian:
  u32 rows, u32 bytes per row, rows x bytes of vectors                       (matrix)
  64 bytes: "usearch", u16 major, minor, patch, u8 metric, scalar, key and slot kinds,
            u64 present, u64 deleted, u64 dimensions, u8 multi               (head)
  u64 size, connectivity, connectivity_base, max_level, entry_slot          (graph header)
  i16 level per node
  per node: u64 key, i16 level, then u32 count + connectivity_base u32 slots (level 0)
            and u32 count + connectivity u32 slots for each level 1..level
Anything else is refused; a USearch upgrade that changes the layout fails the snapshot
tests (every test snapshot with indexes goes through this check) rather than production.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from basketry.snapshot.errors import Refusal, SnapshotError

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]

MAGIC = b"usearch"
MAJOR_VERSION = 2
METRIC_INNER_PRODUCT = ord("i")
SCALAR_F16 = 12
KEY_U64 = 14
SLOT_U32 = 15
VECTOR_SCALAR_BYTES = 2  # float16
HEAD_BYTES = 64
GRAPH_HEADER_BYTES = 40
NODE_HEAD_BYTES = 10  # u64 key + i16 level
MAX_CONNECTIVITY = 1024  # vector_index builds with 16 (32 at level 0)
MAX_LEVEL = 64  # HNSW levels grow with log(rows): 64 is far beyond any real index
NODES_PER_CHUNK = 16_384  # bounds the gather's temporary memory (a few MB)


def check_index_layout(blob: U8, *, ndim: int, rows: int) -> None:
    """SnapshotError (reason index) unless `blob` is empty or a USearch index laid out as
    described above, of `ndim`-dimensional vectors keyed by row numbers below `rows`."""
    data = np.asarray(blob).reshape(-1).view(np.uint8)
    if data.size == 0:
        return
    matrix_rows = _uint(data, 0, 4)
    row_bytes = _uint(data, 4, 4)
    if row_bytes != ndim * VECTOR_SCALAR_BYTES:
        _refuse(f"holds {row_bytes}-byte vectors, not {ndim} float16 values")
    head = 8 + matrix_rows * row_bytes
    graph = head + HEAD_BYTES
    _check_head(data, head, ndim=ndim, present=matrix_rows)
    size, connectivity, connectivity_base, max_level, entry = (
        _uint(data, graph + 8 * field, 8) for field in range(5)
    )
    levels_at = graph + GRAPH_HEADER_BYTES
    if size != matrix_rows:
        _refuse(f"has {size} graph nodes for {matrix_rows} vectors")
    if size == 0:
        if data.size != levels_at:
            _refuse("is empty but has bytes after its header")
        return
    if not (1 <= connectivity <= MAX_CONNECTIVITY and 1 <= connectivity_base <= MAX_CONNECTIVITY):
        _refuse(f"has connectivity {connectivity}/{connectivity_base}, outside 1..1024")
    if max_level > MAX_LEVEL or entry >= size:
        _refuse(f"has max level {max_level} or entry slot {entry} out of range")
    levels = _array(data, levels_at, size, "<i2").astype(np.int64)
    if levels.min() < 0 or levels.max() > max_level or levels[entry] != max_level:
        _refuse("has node levels outside 0..max level, or an entry node below the top")
    base_list = 4 + 4 * connectivity_base
    upper_list = 4 + 4 * connectivity
    node_bytes = NODE_HEAD_BYTES + base_list + levels * upper_list
    nodes_at = levels_at + 2 * size
    if nodes_at + int(node_bytes.sum()) != data.size:
        _refuse(f"is {data.size} bytes, not the {nodes_at + int(node_bytes.sum())} its header says")
    starts = nodes_at + np.concatenate(([0], np.cumsum(node_bytes)[:-1]))
    words = _Words(data)
    key_words = words.at(starts, 2).astype(np.uint64)
    keys = key_words[:, 0] | (key_words[:, 1] << np.uint64(32))
    if keys.max() >= rows or np.bincount(keys.astype(np.int64), minlength=rows).max() > 1:
        _refuse(f"has keys that are not distinct row numbers below {rows}")
    node_levels = (words.at(starts + 8, 1)[:, 0] & 0xFFFF).astype(np.int16)
    if not np.array_equal(node_levels, levels):
        _refuse("has nodes whose level differs from the levels table")
    _check_lists(words, starts + NODE_HEAD_BYTES, connectivity_base, levels, level=0)
    for level in range(1, max_level + 1):
        above = np.flatnonzero(levels >= level)
        lists = starts[above] + NODE_HEAD_BYTES + base_list + (level - 1) * upper_list
        _check_lists(words, lists, connectivity, levels, level=level)


def _check_head(data: U8, at: int, *, ndim: int, present: int) -> None:
    if bytes(_array(data, at, HEAD_BYTES, "u1")[: len(MAGIC)]) != MAGIC:
        _refuse("does not start its head with the USearch magic")
    major = _uint(data, at + 7, 2)
    kinds = tuple(_uint(data, at + 13 + i, 1) for i in range(4))
    count, deleted, dimensions = (_uint(data, at + 17 + 8 * i, 8) for i in range(3))
    multi = _uint(data, at + 41, 1)
    if major != MAJOR_VERSION:
        _refuse(f"was written by USearch {major}.x, not {MAJOR_VERSION}.x")
    if kinds != (METRIC_INNER_PRODUCT, SCALAR_F16, KEY_U64, SLOT_U32) or multi:
        _refuse(f"has metric/scalar/key/slot kinds {kinds} (multi {multi}), not ip/f16/u64/u32")
    if count != present or deleted or dimensions != ndim:
        _refuse(
            f"declares {count} vectors ({deleted} deleted) of {dimensions} dimensions, "
            f"not {present} of {ndim}"
        )


def _check_lists(words: _Words, offsets: I64, capacity: int, levels: I64, *, level: int) -> None:
    """Each neighbour list at `offsets`: a count within capacity, and slots of nodes that
    reach `level` (a search at that level reads the neighbour's list of that level)."""
    for begin in range(0, offsets.size, NODES_PER_CHUNK):
        chunk = offsets[begin : begin + NODES_PER_CHUNK]
        lists = words.at(chunk, 1 + capacity)
        counts = lists[:, :1]
        if counts.max() > capacity:
            _refuse(f"has a level-{level} neighbour list longer than its capacity {capacity}")
        # Slots past a list's count are unused (stale or zero): read as slot 0, never wrong.
        used = np.arange(capacity, dtype=np.uint32) < counts
        slots = np.where(used, lists[:, 1:], 0)
        if slots.max() >= levels.size:
            _refuse(f"has a level-{level} neighbour outside the graph")
        if level and np.where(used, levels[slots], level).min() < level:
            _refuse(f"has a level-{level} neighbour that does not reach that level")


class _Words:
    """The u32 words of the bytes at any even offset (every field of a node is at one:
    the node area starts at an even offset and every node is an even number of bytes).

    Two word views, one from byte 0 and one from byte 2, so a word is one gather rather
    than four byte gathers (4x faster: about the speed of hashing the file).
    """

    def __init__(self, data: U8) -> None:
        self._from = (
            data[: data.size // 4 * 4].view("<u4"),
            data[2 : 2 + (data.size - 2) // 4 * 4].view("<u4"),
        )

    def at(self, offsets: I64, count: int) -> U32:
        """`count` consecutive words from each offset, one row per offset."""
        if offsets.size and (offsets.min() < 0 or (offsets % 2).any()):
            _refuse("has a field at an odd offset")
        result = np.empty((offsets.size, count), dtype=np.uint32)
        for shift, words in enumerate(self._from):
            rows = np.flatnonzero(offsets % 4 == 2 * shift)
            positions = (offsets[rows] - 2 * shift) // 4
            if rows.size and positions.max() + count > words.size:
                _refuse("has a field past its end")
            # Windows of `count` words at every position (a view): one row copy per offset.
            result[rows] = sliding_window_view(words, count)[positions]
        return result


def _array(data: U8, at: int, count: int, dtype: str) -> np.ndarray:
    end = at + count * np.dtype(dtype).itemsize
    if at < 0 or end > data.size:
        _refuse(f"ends at byte {data.size}, before its layout does (byte {end})")
    return data[at:end].view(dtype)


def _uint(data: U8, at: int, width: int) -> int:
    return int(_array(data, at, 1, f"<u{width}")[0])


def _refuse(problem: str) -> NoReturn:
    raise SnapshotError(f"a vector index {problem}", Refusal.INDEX)
