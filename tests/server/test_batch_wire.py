"""Batch answers serialised from pick arrays equal the messages built the ordinary way, and
the vectorised top-k picks what top_k picks row by row."""

from __future__ import annotations

import numpy as np
import pytest

from basketry.server.batch_wire import (
    FALLBACK_VALUES,
    REASON_VALUES,
    BatchEncoder,
    EncoderCache,
    chunk_message,
    message_groups,
    varint,
)
from basketry.server.domain import Reason, Recommendation, RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel
from basketry.server.pick_table import PickTable
from basketry.server.ranking import top_k, top_k_positive_rows
from basketry.server.recommend import recommend_many
from basketry.v1 import recommender_pb2 as pb


def ordinary(model: ServingModel, customer_id: str, answer: Recommendation) -> bytes:
    """The answer built as protobuf objects, serialised."""
    items = [
        pb.ScoredItem(
            item_id=model.item_ids[pick.item],
            score=pick.score,
            reason=REASON_VALUES[pick.reason],
            name=model.item_names[pick.item],
            because_item_ids=[model.item_ids[i] for i in pick.because],
            repeat_probability=pick.repeat_probability,
            repeat_cycle_days=pick.repeat_cycle_days,
        )
        for pick in answer.picks
    ]
    message = pb.RecommendBatchResponse(
        customer_id=customer_id,
        items=items,
        model_version=model.version,
        fallback=FALLBACK_VALUES[answer.fallback],
    )
    return message.SerializeToString()


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("explain", [False, True])
def test_encoded_answers_are_the_ordinary_messages(
    synthetic_model: ServingModel, strategy: Strategy, explain: bool
) -> None:
    model = synthetic_model
    customers = ["c0005", "nobody", *model.customer_ids[20:40], "c0005", "kund-ø-💡"]
    # A narrow filter leaves some rows short of personal picks: popular fill-ins follow.
    for item_filter in (ItemFilter(), ItemFilter(only_categories=("cat1",))):
        query = RecommendQuery(customer_id="", limit=30, strategy=strategy, explain=explain)
        answers = recommend_many(model, customers, query, allowed_items(model, item_filter))
        encoded = BatchEncoder(model).answers(customers, answers)
        assert len(encoded) == len(customers)
        for customer_id, answer, data in zip(customers, answers, encoded, strict=True):
            parsed = pb.RecommendBatchResponse.FromString(data)
            assert parsed.SerializeToString() == ordinary(model, customer_id, answer)
    fallbacks = {answer.fallback for answer in answers}
    assert len(fallbacks) > 1  # the cases above include cold and filtered-out rows


def test_names_and_empty_answers_encode(tiny_model: ServingModel) -> None:
    model = tiny_model
    table = PickTable(2, 3)
    table.append(1, np.array([2, 0]), [0.75, 0.0], Reason.POPULAR)
    encoded = BatchEncoder(model).answers(["empty", "two"], table)
    empty, two = (pb.RecommendBatchResponse.FromString(data) for data in encoded)
    assert empty == pb.RecommendBatchResponse(customer_id="empty", model_version=model.version)
    assert [(item.item_id, item.score, item.name, item.reason) for item in two.items] == [
        (model.item_ids[2], 0.75, model.item_names[2], pb.REASON_POPULAR),
        (model.item_ids[0], 0.0, model.item_names[0], pb.REASON_POPULAR),
    ]


def test_a_chunk_message_holds_its_answers_in_order(synthetic_model: ServingModel) -> None:
    customers = list(synthetic_model.customer_ids[:9])
    query = RecommendQuery(customer_id="", limit=4)
    answers = recommend_many(
        synthetic_model, customers, query, allowed_items(synthetic_model, ItemFilter())
    )
    encoded = BatchEncoder(synthetic_model).answers(customers, answers)
    message = pb.RecommendBatchChunk.FromString(chunk_message(encoded))
    assert list(message.answers) == [pb.RecommendBatchResponse.FromString(e) for e in encoded]


def test_large_answers_are_split_into_bounded_messages() -> None:
    answers = [b"x" * size for size in (10, 10, 10, 50, 200, 5)]
    groups = message_groups(answers, max_bytes=60)
    assert groups == [range(0, 3), range(3, 4), range(4, 5), range(5, 6)]
    assert message_groups([], max_bytes=60) == []
    assert message_groups(answers) == [range(0, 6)]


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 16_383, 16_384, 2**31, 2**40):
        # An int64 field's encoding is its tag (one byte here) then the varint.
        expected = pb.BundleItem(co_purchase_count=value).SerializeToString()[1:]
        assert varint(value) == (expected or b"\x00")


def test_the_encoder_is_built_once_per_model(synthetic_model: ServingModel) -> None:
    cache = EncoderCache()
    first = cache.for_model(synthetic_model)
    assert cache.for_model(synthetic_model) is first
    assert first.version == synthetic_model.version


@pytest.mark.parametrize("positive_share", [0.02, 0.3, 0.7])
def test_top_k_positive_rows_picks_what_top_k_picks_per_row(positive_share: float) -> None:
    # Dense rows take the partition path, sparse ones the sort-the-positives path.
    rng = np.random.default_rng(7)
    for k in (1, 3, 10, 40):
        # Few distinct values: many ties, across the k-th place too; zeros are never picked.
        scores = rng.integers(1, 6, size=(30, 250)).astype(np.float32)
        scores[rng.random(scores.shape) > positive_share] = 0.0
        scores[rng.random(scores.shape) < 0.05] = -1.0
        scores[3] = 0.0
        scores[4, :2] = 1e-45  # subnormal, still positive
        rows, columns = top_k_positive_rows(scores, k)
        for row in range(scores.shape[0]):
            expected = top_k(scores[row], scores[row] > 0, k).tolist()
            assert columns[rows == row].tolist() == expected, (k, row)
        assert rows.tolist() == sorted(rows.tolist())
    empty_rows, empty_columns = top_k_positive_rows(np.ones((3, 4), dtype=np.float32), 0)
    assert empty_rows.size == empty_columns.size == 0
