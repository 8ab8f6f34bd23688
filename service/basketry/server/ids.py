"""Id <-> row lookups over the snapshot's memory-mapped, sorted id arrays.

A Python dict and tuple of a million customer ids cost ~150 MB per server process and
about a second to build at every load. The snapshot stores ids sorted (schema version 3),
so the row of an id is a binary search over the mapped array (a few microseconds, no
per-process copy) and the id of a row is one array read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt


class Strings(Sequence[str]):
    """A read-only unicode array seen as a sequence of plain `str`."""

    def __init__(self, values: npt.NDArray[np.str_]) -> None:
        self.values = values

    @overload
    def __getitem__(self, position: int) -> str: ...

    @overload
    def __getitem__(self, position: slice) -> tuple[str, ...]: ...

    def __getitem__(self, position: int | slice) -> str | tuple[str, ...]:
        if isinstance(position, slice):
            return tuple(str(value) for value in self.values[position].tolist())
        return str(self.values[position])

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.values.tolist())


class SortedIdIndex(Mapping[str, int]):
    """id -> row over an id array sorted ascending without duplicates."""

    def __init__(self, ids: npt.NDArray[np.str_]) -> None:
        self.ids = ids

    def get(self, key: str, default: int | None = None) -> int | None:  # type: ignore[override]
        # A fast path for the per-request lookups (Mapping.get goes through an exception).
        row = self._row(key)
        return default if row is None else row

    def __getitem__(self, key: str) -> int:
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        return row

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._row(key) is not None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids.tolist())

    def rows(self, keys: Sequence[str]) -> npt.NDArray[np.int64]:
        """The row of each key, -1 for an unknown one (one binary search for all)."""
        if not keys:
            return np.empty(0, dtype=np.int64)
        wanted = np.array(keys, dtype=np.str_)
        # A key longer than the stored width is truncated by the search (it cannot be
        # stored anyway); the equality check below compares the full key.
        rows = np.searchsorted(self.ids, wanted).astype(np.int64)
        inside = rows < self.ids.shape[0]
        found = np.zeros(rows.shape, dtype=np.bool_)
        found[inside] = self.ids[rows[inside]] == wanted[inside]
        return np.where(found, rows, -1)

    def _row(self, key: str) -> int | None:
        row = int(np.searchsorted(self.ids, key))
        if row < self.ids.shape[0] and self.ids[row] == key:
            return row
        return None
