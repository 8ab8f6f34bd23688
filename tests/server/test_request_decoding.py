"""Requests whose bytes do not parse: the walk names the field, the server answers
INVALID_ARGUMENT (not gRPC's INTERNAL "Exception deserializing request!") and goes on."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import given, settings
from hypothesis import strategies as st
from support.raw_calls import call_raw
from support.servers import RunningServer

from basketry.server.request_decoding import (
    MAX_KEPT_VIOLATIONS,
    REQUEST_FIELD,
    UndecodableRequest,
    tolerant_deserializer,
    undecodable_request,
)
from basketry.v1 import recommender_pb2 as pb

BAD = b"\xff"  # never valid in UTF-8
CI = settings(derandomize=True, database=None, deadline=None, max_examples=300)


def _with_bad_text(message: bytes, marker: str) -> bytes:
    """`message` with the string value `marker` turned into invalid UTF-8 (same length)."""
    encoded = marker.encode()
    assert message.count(encoded) == 1
    return message.replace(encoded, BAD + encoded[1:])


def _descriptor(message: type[Message]) -> Descriptor:
    descriptor = message.DESCRIPTOR
    assert isinstance(descriptor, Descriptor)
    return descriptor


def _fields(message: type[Message], data: bytes) -> dict[str, str]:
    found = undecodable_request(_descriptor(message), data)
    return {violation.field: violation.description for violation in found.violations}


@pytest.mark.parametrize(
    ("message", "marker", "field"),
    [
        (pb.RecommendRequest(customer_id="MARK"), "MARK", "customer_id"),
        (
            pb.RecommendRequest(
                customer_id="c1", filter=pb.ItemFilter(exclude_item_ids=["a", "b", "MARK"])
            ),
            "MARK",
            "filter.exclude_item_ids[2]",
        ),
        (
            pb.RecommendRequest(customer_id="c1", context_item_ids=["MARK"]),
            "MARK",
            "context_item_ids[0]",
        ),
        (
            pb.RecordOrdersRequest(
                orders=[
                    pb.Order(
                        order_id="o1",
                        customer_id="c1",
                        lines=[pb.OrderLine(item_id="a"), pb.OrderLine(item_id="MARK")],
                    )
                ]
            ),
            "MARK",
            "orders[0].lines[1].item_id",
        ),
        (
            pb.RecordOrdersRequest(
                orders=[pb.Order(order_id="o1"), pb.Order(order_id="o2", customer_id="MARK")]
            ),
            "MARK",
            "orders[1].customer_id",
        ),
        (pb.RecommendBatchRequest(customer_ids=["c1"], campaign="MARK"), "MARK", "campaign"),
        (pb.LookalikeRequest(seed_item_ids=["x", "MARK"]), "MARK", "seed_item_ids[1]"),
    ],
)
def test_invalid_utf8_is_named_by_its_field(message: Message, marker: str, field: str) -> None:
    data = _with_bad_text(message.SerializeToString(), marker)
    with pytest.raises(DecodeError):
        type(message).FromString(data)
    found = _fields(type(message), data)
    assert list(found) == [field]
    assert "is not valid UTF-8" in found[field]


def test_every_bad_string_is_named_up_to_a_limit() -> None:
    ids = [f"id{i:03d}" for i in range(50)]
    data = (
        pb.RecommendBatchRequest(customer_ids=ids).SerializeToString().replace(b"id", b"\xff\xfe")
    )
    found = undecodable_request(_descriptor(pb.RecommendBatchRequest), data)
    assert [v.field for v in found.violations] == [
        f"customer_ids[{i}]" for i in range(MAX_KEPT_VIOLATIONS)
    ]
    assert found.unlisted == 50 - MAX_KEPT_VIOLATIONS


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"\x0a\x05ab", "customer_id", "runs past the end"),  # a length beyond the end
        (b"\x1a\x03\x0a\x05A", "filter.exclude_item_ids[0]", "runs past the end"),
        (b"\x1a\x02\x20\x80", "filter", "truncated"),  # a cut-off varint inside the filter
        (b"\x10\x80", REQUEST_FIELD, "truncated"),
        (b"\x00\x01", REQUEST_FIELD, "bad field tag"),  # field number 0
        (b"\x0f", REQUEST_FIELD, "bad wire type"),
        (b"\x0c", REQUEST_FIELD, "bad wire type"),  # an end-group without a start
        (b"\x4b\x54", REQUEST_FIELD, "group"),  # a group closed by another field's end
        (b"\x4b\x08\x01", REQUEST_FIELD, "truncated"),  # a group never closed
        (b"\x10" + b"\x80" * 10 + b"\x00", REQUEST_FIELD, "longer than 10 bytes"),
        (b"\x0d\x01\x02", REQUEST_FIELD, "truncated"),  # a fixed32 cut short
    ],
)
def test_bytes_that_are_no_message_name_where_they_break(
    data: bytes, field: str, words: str
) -> None:
    with pytest.raises(DecodeError):
        pb.RecommendRequest.FromString(data)
    found = _fields(pb.RecommendRequest, data)
    assert list(found) == [field]
    assert words in found[field]


def test_unknown_fields_and_groups_are_skipped_to_find_the_bad_field() -> None:
    # Field 9 (unknown) as a group holding a varint, field 2 (limit) sent length-delimited
    # (an unknown field for the parser too), then a bad customer_id.
    data = b"\x4b\x08\x01\x4c" + b"\x12\x01A" + b"\x0a\x02\xff\xff"
    found = _fields(pb.RecommendRequest, data)
    assert list(found) == ["customer_id"]


def test_packed_numbers_are_walked() -> None:
    # SourceCodeInfo.Location.path is `repeated int32 [packed = true]`.
    location = descriptor_pb2.SourceCodeInfo.Location
    assert location.FromString(b"\x0a\x02\x01\x02").path == [1, 2]
    found = _fields(location, b"\x0a\x02\x01\x80")  # the second value is cut off
    assert list(found) == ["path"]


_VALID_BATCH = st.builds(
    lambda ids, limit: pb.RecommendBatchRequest(
        customer_ids=ids, limit=limit, filter=pb.ItemFilter(exclude_item_ids=ids, min_price=1)
    ).SerializeToString(),
    st.lists(st.text(max_size=5), max_size=3),
    st.integers(-(2**31), 2**31 - 1),
)


@CI
@given(
    st.one_of(
        st.binary(max_size=64),
        # A valid message followed by random bytes: parses when they happen to be fields.
        st.tuples(_VALID_BATCH, st.binary(max_size=6)).map(b"".join),
    )
)
def test_the_walk_finds_nothing_in_bytes_the_parser_accepts(data: bytes) -> None:
    """No false alarms: on bytes that parse, the walk only reports its generic fallback."""
    for message in (pb.RecommendRequest, pb.RecordOrdersRequest, pb.RecommendBatchRequest):
        try:
            message.FromString(data)
        except DecodeError:
            continue
        found = undecodable_request(_descriptor(message), data)
        assert [v.field for v in found.violations] == [REQUEST_FIELD]
        assert "is not a valid" in found.violations[0].description


@CI
@given(
    st.lists(st.text(max_size=8), max_size=5),
    st.integers(min_value=0),
    st.data(),
)
def test_a_bad_id_anywhere_in_a_batch_is_named(
    ids: list[str], bad_at: int, data: st.DataObject
) -> None:
    bad_at = bad_at % (len(ids) + 1)
    ids.insert(bad_at, "\x00MARK\x00")
    message = pb.RecommendBatchRequest(
        customer_ids=ids, limit=data.draw(st.integers(-(2**31), 2**31 - 1))
    )
    found = _fields(pb.RecommendBatchRequest, _with_bad_text(message.SerializeToString(), "MARK"))
    assert list(found) == [f"customer_ids[{bad_at}]"]


def test_the_tolerant_deserializer_parses_good_bytes_unchanged() -> None:
    deserialize = tolerant_deserializer(
        _descriptor(pb.RecommendRequest), pb.RecommendRequest.FromString
    )
    good = pb.RecommendRequest(customer_id="c1", limit=3)
    assert deserialize(good.SerializeToString()) == good
    bad = deserialize(b"\x0a\x01\xff")
    assert isinstance(bad, UndecodableRequest)
    assert bad.message_name == "basketry.v1.RecommendRequest"


@pytest.mark.parametrize(
    ("method", "data", "field"),
    [
        ("Recommend", b"\x0a\x03a\xffc", "customer_id"),
        ("Recommend", b"\x0a\x05ab", "customer_id"),
        ("GetModelInfo", b"\x0f", REQUEST_FIELD),  # an empty request, yet bad bytes
        (
            "RecommendBatchChunked",
            _with_bad_text(
                pb.RecommendBatchRequest(
                    customer_ids=["c0001", "c0002", "MARK"]
                ).SerializeToString(),
                "MARK",
            ),
            "customer_ids[2]",
        ),
        (
            "RecordOrders",
            _with_bad_text(
                pb.RecordOrdersRequest(
                    orders=[
                        pb.Order(
                            order_id="o1",
                            customer_id="c1",
                            lines=[pb.OrderLine(item_id="i000"), pb.OrderLine(item_id="MARK")],
                        )
                    ]
                ).SerializeToString(),
                "MARK",
            ),
            "orders[0].lines[1].item_id",
        ),
    ],
)
def test_the_server_answers_invalid_argument_naming_the_field(
    server: RunningServer, method: str, data: bytes, field: str
) -> None:
    with grpc.insecure_channel(server.target) as channel:
        outcome = call_raw(channel, method, data)
        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
        assert field in outcome.violations and field in outcome.details
        # Counted like any other invalid request, and the server answers normally after.
        registry = server.server.metrics.registry
        labels = {"method": method, "code": "INVALID_ARGUMENT"}
        assert registry.get_sample_value("basketry_requests_total", labels) == 1.0
        good = pb.RecommendRequest(customer_id="c0001").SerializeToString()
        answer = call_raw(channel, "Recommend", good)
        assert answer.code == grpc.StatusCode.OK
        assert pb.RecommendResponse.FromString(answer.responses[0]).items


def test_the_server_names_twenty_and_counts_the_rest(server: RunningServer) -> None:
    ids = [f"id{i:03d}" for i in range(30)]
    data = (
        pb.RecommendBatchRequest(customer_ids=ids).SerializeToString().replace(b"id", b"\xff\xfe")
    )
    with grpc.insecure_channel(server.target) as channel:
        outcome = call_raw(channel, "RecommendBatch", data)
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(outcome.violations) == MAX_KEPT_VIOLATIONS + 1
    assert outcome.violations["(more)"] == "10 further violations not listed"
