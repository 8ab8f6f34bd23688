"""A chunk's picks as arrays: what recommend_many answers, without a Python object per pick.

Row r (a customer of the chunk) holds its picks in columns [0, lengths[r]) of `items`,
`scores` and `reasons`, best first. A mail batch serialises the arrays directly
(basketry.server.batch_wire); everything else reads rows as Recommendation objects, built
on access, so a batch that is only serialised never builds a Pick.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from basketry.server.domain import Fallback, Pick, Reason, Recommendation
from basketry.server.ids import Strings

# A pick's reason is stored as its position in this tuple.
REASONS: tuple[Reason, ...] = tuple(Reason)
REASON_CODES = {reason: code for code, reason in enumerate(REASONS)}


@dataclass(frozen=True)
class Explanations:
    """Per row, the `because` items of its first picks (popular fill-ins have none), and
    the repurchase facts of every pick (rows x limit)."""

    because: list[list[tuple[int, ...]]]
    repeat_probability: npt.NDArray[np.float64]
    repeat_cycle_days: npt.NDArray[np.float64]


def id_list(ids: Sequence[str], rows: npt.NDArray[np.int64]) -> list[str]:
    """The ids of many rows at once (one array read for the snapshot's id arrays)."""
    if isinstance(ids, Strings):
        return [str(value) for value in ids.values[rows].tolist()]
    return [ids[row] for row in rows.tolist()]


class PickTable(Sequence[Recommendation]):
    """rows x limit arrays of picks, a fallback per row, and explanations when asked."""

    def __init__(self, n_rows: int, limit: int) -> None:
        self.items = np.zeros((n_rows, limit), dtype=np.int64)
        self.scores = np.zeros((n_rows, limit), dtype=np.float64)
        self.reasons = np.zeros((n_rows, limit), dtype=np.int8)
        self.lengths = np.zeros(n_rows, dtype=np.int64)
        self.fallbacks = [Fallback.NONE] * n_rows
        self.explanations: Explanations | None = None  # only when the query asks

    @classmethod
    def ranked(
        cls,
        n_rows: int,
        limit: int,
        rows: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        scores: npt.NDArray[np.floating],
        reasons: npt.NDArray[np.integer],
    ) -> PickTable:
        """A table from flat picks grouped by row (row order), best first within a row."""
        table = cls(n_rows, limit)
        counts = np.bincount(rows, minlength=n_rows)
        columns = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        table.items[rows, columns] = items
        table.scores[rows, columns] = scores
        table.reasons[rows, columns] = reasons
        table.lengths = counts.astype(np.int64, copy=False)
        return table

    @property
    def limit(self) -> int:
        return int(self.items.shape[1])

    def valid(self, lengths: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.bool_]:
        """rows x limit: True where a row holds a pick (of `lengths`, default every row's);
        `items[valid()]` lists every pick, row by row, best first."""
        counts = self.lengths if lengths is None else lengths
        return np.arange(self.limit)[None, :] < counts[:, None]

    def row_items(self, row: int) -> npt.NDArray[np.int64]:
        return self.items[row, : self.lengths[row]]

    def append(
        self, row: int, items: npt.NDArray[np.int64], scores: Sequence[float], reason: Reason
    ) -> None:
        """Add picks after the row's last one (the caller keeps the row within `limit`)."""
        start = int(self.lengths[row])
        end = start + items.size
        self.items[row, start:end] = items
        self.scores[row, start:end] = scores
        self.reasons[row, start:end] = REASON_CODES[reason]
        self.lengths[row] = end

    def explain(self, row: int, picks: Sequence[Pick]) -> None:
        """Store the explanations of the row's picks (the same items, in order)."""
        if self.explanations is None:
            self.explanations = Explanations(
                because=[[] for _ in range(len(self))],
                repeat_probability=np.zeros(self.items.shape, dtype=np.float64),
                repeat_cycle_days=np.zeros(self.items.shape, dtype=np.float64),
            )
        explained = self.explanations
        explained.because[row] = [pick.because for pick in picks]
        explained.repeat_probability[row, : len(picks)] = [p.repeat_probability for p in picks]
        explained.repeat_cycle_days[row, : len(picks)] = [p.repeat_cycle_days for p in picks]

    def picks(self, row: int) -> list[Pick]:
        length = int(self.lengths[row])
        items = self.items[row, :length].tolist()
        scores = self.scores[row, :length].tolist()
        reasons = [REASONS[code] for code in self.reasons[row, :length].tolist()]
        explained = self.explanations
        if explained is None:
            return [Pick(i, s, r) for i, s, r in zip(items, scores, reasons, strict=True)]
        because = explained.because[row] + [()] * (length - len(explained.because[row]))
        probabilities = explained.repeat_probability[row, :length].tolist()
        cycles = explained.repeat_cycle_days[row, :length].tolist()
        return [
            Pick(*fields)
            for fields in zip(items, scores, reasons, because, probabilities, cycles, strict=True)
        ]

    def __len__(self) -> int:
        return int(self.items.shape[0])

    @overload
    def __getitem__(self, row: int) -> Recommendation: ...

    @overload
    def __getitem__(self, row: slice) -> list[Recommendation]: ...

    def __getitem__(self, row: int | slice) -> Recommendation | list[Recommendation]:
        if isinstance(row, slice):
            return [self[r] for r in range(len(self))[row]]
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} of a {len(self)}-row pick table")
        row %= len(self)
        return Recommendation(picks=self.picks(row), fallback=self.fallbacks[row])

    def __iter__(self) -> Iterator[Recommendation]:
        return (self[row] for row in range(len(self)))
