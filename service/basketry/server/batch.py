"""Picks for many customers, a chunk at a time (one matrix product per chunk).

answer_chunks computes; DeliveredPicks remembers, for mail rotation, what the caller
actually delivered. Both batch RPCs (one message per customer, or per chunk) and
recommend_batch (per customer, in process) are these two, driven at their own pace.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from basketry.server.domain import Recommendation, RecommendQuery
from basketry.server.model import ServingModel
from basketry.server.orders import OrderStore
from basketry.server.pick_table import PickTable, id_list
from basketry.server.recommend import recommend_many
from basketry.server.rotation import CampaignRotation

# Measured on 4,300 x 3,700: 32-128 customers per chunk beat 256 (matrices stay in cache).
CHUNK_SIZE = 64
# Each chunk holds a few customers x items float32 matrices: cap one at ~4 MB.
MAX_CHUNK_CELLS = 1_000_000


@dataclass(frozen=True)
class AnsweredChunk:
    """Consecutive customers of a batch and their answers (row r is customer_ids[r])."""

    customer_ids: Sequence[str]
    answers: PickTable


def answer_chunks(
    model: ServingModel,
    customer_ids: Sequence[str],
    query: RecommendQuery,
    allowed: npt.NDArray[np.bool_],
    orders: OrderStore | None = None,
    rotation: CampaignRotation | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Generator[AnsweredChunk, None, None]:
    """The customers' answers chunk by chunk, in request order; `query` is the template for
    every customer; `orders` holds the recorded orders and `rotation` the campaign's sent
    picks (each asked once per chunk). A customer listed twice in one chunk gets the same
    picks. Nothing is remembered as sent here: see DeliveredPicks."""
    size = max(1, min(chunk_size, MAX_CHUNK_CELLS // max(1, model.n_items)))
    for start in range(0, len(customer_ids), size):
        chunk = customer_ids[start : start + size]
        excluded = None if rotation is None else rotation.excluded(model, chunk)
        yield AnsweredChunk(chunk, recommend_many(model, chunk, query, allowed, orders, excluded))


class DeliveredPicks:
    """What a batch delivered, remembered as sent under its campaign (no-op without one).

    The caller adds rows once they are delivered and flushes once per chunk (one store
    write) and when the batch ends or is abandoned.
    """

    def __init__(self, model: ServingModel, rotation: CampaignRotation | None) -> None:
        self._model = model
        self._rotation = rotation
        self._pending: dict[str, list[str]] = {}

    def add(self, chunk: AnsweredChunk, rows: range) -> None:
        if self._rotation is None:
            return
        answers = chunk.answers
        lengths = answers.lengths[rows.start : rows.stop]
        picked = answers.items[rows.start : rows.stop][answers.valid(lengths)]
        item_ids = id_list(self._model.item_ids, picked)
        end = 0
        for row, length in zip(rows, lengths.tolist(), strict=True):
            start, end = end, end + length
            self._pending.setdefault(chunk.customer_ids[row], []).extend(item_ids[start:end])

    def flush(self) -> None:
        if self._rotation is not None and self._pending:
            self._rotation.remember(self._pending)
            self._pending = {}


def recommend_batch(
    model: ServingModel,
    customer_ids: Sequence[str],
    query: RecommendQuery,
    allowed: npt.NDArray[np.bool_],
    orders: OrderStore | None = None,
    rotation: CampaignRotation | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Generator[tuple[str, Recommendation], None, None]:
    """(customer id, picks) in request order (answer_chunks, one customer at a time).

    A generator: the caller stops it (close()) to abandon the rest. With a rotation, an
    answer counts as delivered, and is remembered as sent, once the caller asks for the
    next one or the batch ends: an answer taken but never followed is not remembered.
    """
    delivered = DeliveredPicks(model, rotation)
    chunks = answer_chunks(model, customer_ids, query, allowed, orders, rotation, chunk_size)
    try:
        for chunk in chunks:
            for row, customer_id in enumerate(chunk.customer_ids):
                yield customer_id, chunk.answers[row]
                delivered.add(chunk, range(row, row + 1))
            delivered.flush()
    finally:
        delivered.flush()
