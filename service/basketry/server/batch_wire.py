"""RecommendBatch answers serialised straight from a chunk's pick arrays.

Building a RecommendBatchResponse the ordinary way makes one protobuf object per item
(~3 us each, ~30 us per customer of ten picks: more than scoring them). Here each
answer's wire bytes are joined from pieces: an item's id and name are encoded once per
model, and a pick adds only its score and reason. The servicer parses the bytes back
into a message (one C call per message), so what goes out is ordinary protobuf, checked
by the parser, and re-serialised by gRPC in canonical form.

Fields may be written in any order and with default values (the wire format allows
both; parsing and re-serialising drops them). Field numbers come from the generated
descriptors, so the encoding follows the .proto.
"""

from __future__ import annotations

import functools
import struct
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from basketry.server.domain import Fallback, Reason
from basketry.server.model import ServingModel
from basketry.server.pick_table import REASONS, Explanations, PickTable, id_list
from basketry.v1 import recommender_pb2 as pb

# Keeps a RecommendBatchChunk far below gRPC's default 4 MB message limit (limit 500 with
# explanations and long names reaches ~100 KB per customer).
MAX_MESSAGE_BYTES = 1 << 20

_VARINT, _FIXED64, _LENGTH = 0, 1, 2
_ITEM = pb.ScoredItem.DESCRIPTOR.fields_by_name
_ANSWER = pb.RecommendBatchResponse.DESCRIPTOR.fields_by_name
_CHUNK = pb.RecommendBatchChunk.DESCRIPTOR.fields_by_name

REASON_VALUES = {
    Reason.PERSONALIZED: pb.REASON_PERSONALIZED,
    Reason.BUY_AGAIN: pb.REASON_BUY_AGAIN,
    Reason.POPULAR: pb.REASON_POPULAR,
    Reason.BOUGHT_TOGETHER: pb.REASON_BOUGHT_TOGETHER,
    Reason.SIMILAR: pb.REASON_SIMILAR,
}
FALLBACK_VALUES = {
    Fallback.NONE: pb.FALLBACK_UNSPECIFIED,
    Fallback.COLD_CUSTOMER: pb.FALLBACK_COLD_CUSTOMER,
    Fallback.EMPTY_AFTER_FILTERS: pb.FALLBACK_EMPTY_AFTER_FILTERS,
    Fallback.UNKNOWN_ITEM: pb.FALLBACK_UNKNOWN_ITEM,
}


def _tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


@functools.lru_cache(maxsize=1 << 16)
def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint (cached: the same lengths recur)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _text(tag: bytes, value: str) -> bytes:
    data = value.encode()
    return tag + varint(len(data)) + data


_ITEM_ID = _tag(_ITEM["item_id"].number, _LENGTH)
_NAME = _tag(_ITEM["name"].number, _LENGTH)
_BECAUSE = _tag(_ITEM["because_item_ids"].number, _LENGTH)
_REPEAT_PROBABILITY = _tag(_ITEM["repeat_probability"].number, _FIXED64)
_REPEAT_CYCLE = _tag(_ITEM["repeat_cycle_days"].number, _FIXED64)
_CUSTOMER_ID = _tag(_ANSWER["customer_id"].number, _LENGTH)
_ANSWER_ITEM = _tag(_ANSWER["items"].number, _LENGTH)
_MODEL_VERSION = _tag(_ANSWER["model_version"].number, _LENGTH)
_FALLBACK = _tag(_ANSWER["fallback"].number, _VARINT)
_CHUNK_ANSWER = _tag(_CHUNK["answers"].number, _LENGTH)

# A pick's score and reason as one fixed-size record: score tag, 8-byte little-endian
# double, reason tag, reason value (every Reason value is below 128: a one-byte varint).
_PICK_TAIL = np.dtype(
    [("score_tag", "u1"), ("score", "<f8"), ("reason_tag", "u1"), ("reason", "u1")]
)
_SCORE_TAG = _tag(_ITEM["score"].number, _FIXED64)[0]
_REASON_TAG = _tag(_ITEM["reason"].number, _VARINT)[0]
_REASON_BYTES = np.array([REASON_VALUES[reason] for reason in REASONS], dtype=np.uint8)
_TAIL_SIZE = _PICK_TAIL.itemsize


class BatchEncoder:
    """Serialises one model's batch answers (build once per model: it encodes every item)."""

    def __init__(self, model: ServingModel) -> None:
        self.version = model.version
        self._item_ids = model.item_ids
        self._item_names = model.item_names
        self._version_field = _text(_MODEL_VERSION, model.version)
        every_item = np.arange(model.n_items, dtype=np.int64)
        # Per item, a plain pick's bytes up to its tail: the ScoredItem tag and length, then
        # item_id and name (~0.1 s and ~10 MB per 100,000 items).
        self._heads = []
        for item_id, name in zip(
            id_list(model.item_ids, every_item), id_list(model.item_names, every_item), strict=True
        ):
            fields = _item_fields(item_id, name)
            self._heads.append(_ANSWER_ITEM + varint(len(fields) + _TAIL_SIZE) + fields)

    def answers(self, customer_ids: Sequence[str], table: PickTable) -> list[bytes]:
        """Each row's RecommendBatchResponse, serialised, in row order."""
        valid = table.valid()
        tails = _tails(table, valid)
        if table.explanations is None:
            entries = self._plain_picks(table.items[valid].tolist(), tails)
        else:
            entries = self._explained_picks(table, table.explanations, valid, tails)
        answers = []
        end = 0
        for row, (customer_id, length) in enumerate(
            zip(customer_ids, table.lengths.tolist(), strict=True)
        ):
            start, end = end, end + length
            fallback = FALLBACK_VALUES[table.fallbacks[row]]
            answers.append(
                b"".join(
                    (
                        _text(_CUSTOMER_ID, customer_id),
                        *entries[start:end],
                        self._version_field,
                        _FALLBACK + varint(fallback) if fallback else b"",
                    )
                )
            )
        return answers

    def _plain_picks(self, items: list[int], tails: bytes) -> list[bytes]:
        heads = self._heads
        return [
            heads[item] + tails[offset : offset + _TAIL_SIZE]
            for item, offset in zip(items, range(0, len(tails), _TAIL_SIZE), strict=True)
        ]

    def _explained_picks(
        self, table: PickTable, explained: Explanations, valid: npt.NDArray[np.bool_], tails: bytes
    ) -> list[bytes]:
        """Picks with `because` ids and repurchase facts: variable length, so each is
        built and measured on its own (explaining costs far more than encoding anyway)."""
        rows, columns = np.nonzero(valid)
        probabilities = explained.repeat_probability[valid].tolist()
        cycles = explained.repeat_cycle_days[valid].tolist()
        entries = []
        for pick, (row, column, item) in enumerate(
            zip(rows.tolist(), columns.tolist(), table.items[valid].tolist(), strict=True)
        ):
            because = explained.because[row]
            offset = pick * _TAIL_SIZE
            content = b"".join(
                (
                    _item_fields(self._item_ids[item], self._item_names[item]),
                    tails[offset : offset + _TAIL_SIZE],
                    *(
                        _text(_BECAUSE, self._item_ids[source])
                        for source in (because[column] if column < len(because) else ())
                    ),
                    _REPEAT_PROBABILITY + struct.pack("<d", probabilities[pick]),
                    _REPEAT_CYCLE + struct.pack("<d", cycles[pick]),
                )
            )
            entries.append(_ANSWER_ITEM + varint(len(content)) + content)
        return entries


def _item_fields(item_id: str, name: str) -> bytes:
    """A ScoredItem's item_id and name fields (no name field for an unknown name)."""
    return _text(_ITEM_ID, item_id) + (_text(_NAME, name) if name else b"")


def _tails(table: PickTable, valid: npt.NDArray[np.bool_]) -> bytes:
    """Every pick's score and reason fields, packed back to back in pick order."""
    tails = np.empty(int(table.lengths.sum()), dtype=_PICK_TAIL)
    tails["score_tag"] = _SCORE_TAG
    tails["score"] = table.scores[valid]
    tails["reason_tag"] = _REASON_TAG
    tails["reason"] = _REASON_BYTES[table.reasons[valid]]
    return tails.tobytes()


def message_groups(answers: Sequence[bytes], max_bytes: int = MAX_MESSAGE_BYTES) -> list[range]:
    """Consecutive answers grouped into messages of at most `max_bytes` (an answer larger
    than that alone in its message)."""
    groups = []
    start, size = 0, 0
    for position, answer in enumerate(answers):
        if position > start and size + len(answer) > max_bytes:
            groups.append(range(start, position))
            start, size = position, 0
        size += len(answer) + 8  # the answer's tag and length: at most a few bytes
    if start < len(answers):
        groups.append(range(start, len(answers)))
    return groups


def chunk_message(answers: Sequence[bytes]) -> bytes:
    """A RecommendBatchChunk holding the serialised answers, in order."""
    return b"".join(_CHUNK_ANSWER + varint(len(answer)) + answer for answer in answers)


def one_per_answer(answers: list[bytes]) -> Iterator[tuple[range, bytes]]:
    """RecommendBatch's messages: each serialised answer is one (rows, message)."""
    for row, answer in enumerate(answers):
        yield range(row, row + 1), answer


def grouped_answers(answers: list[bytes]) -> Iterator[tuple[range, bytes]]:
    """RecommendBatchChunked's messages: a chunk's answers in one message, or a few if they
    are large, each with the rows it holds."""
    for rows in message_groups(answers):
        yield rows, chunk_message(answers[rows.start : rows.stop])


class EncoderCache:
    """The encoder of the serving model, built at its first batch (a snapshot swap makes a
    new one; the old model's is dropped). Safe to share between the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: BatchEncoder | None = None

    def for_model(self, model: ServingModel) -> BatchEncoder:
        current = self._current
        if current is not None and current.version == model.version:
            return current
        with self._lock:
            current = self._current
            if current is None or current.version != model.version:
                current = BatchEncoder(model)
                self._current = current
            return current
