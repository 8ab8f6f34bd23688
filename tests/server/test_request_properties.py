"""Property: whatever a caller sends to any RPC, the answer is OK or a documented error code
(INVALID_ARGUMENT; NOT_FOUND where the API says so), never UNKNOWN or INTERNAL, and the
server keeps answering.

Requests for every RPC mix ids the snapshot knows with unknown, empty, blank, huge,
non-ASCII and control-character strings, any int32 (limits, enum values), any double
(NaN, infinities, negative zero) and random filters; raw random bytes and valid messages
with invalid UTF-8 inside go through a generic channel. One real server serves the module;
the hypothesis profile is derandomized and database-free, so CI runs the same examples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.raw_calls import METHODS, Outcome, call_raw
from support.servers import running_server
from support.synthetic import customer_id, item_id, publish_synthetic_snapshot

from basketry.v1 import recommender_pb2 as pb

OK_OR_BAD_INPUT = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
# The RPCs whose documented answer to an unknown id is NOT_FOUND (recommender.proto).
MAY_BE_NOT_FOUND = {"SimilarItems", "SimilarCustomers", "Lookalike"}
PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RAW_PROFILE = settings(PROFILE, max_examples=500)  # raw bytes are cheap to send
NOW = int(time.time())


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    directory = tmp_path_factory.mktemp("snapshots")
    publish_synthetic_snapshot(directory)
    with running_server(directory) as running, grpc.insecure_channel(running.target) as opened:
        yield opened


# --- strategies ---------------------------------------------------------------------------
# Each value is usually plausible and sometimes hostile, so that about half the requests
# are valid and reach the scoring code, and the rest probe the checks.


T = TypeVar("T")


def mostly(plausible: st.SearchStrategy[T], hostile: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`plausible` about nine times in ten (one_of would not weigh repeated branches)."""
    return st.sampled_from([True] * 9 + [False]).flatmap(
        lambda use_plausible: plausible if use_plausible else hostile
    )


def optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


int32s = st.one_of(
    st.sampled_from([-1, 501, 10_000, 10_001, 2**31 - 1, -(2**31)]),
    st.integers(-(2**31), 2**31 - 1),
)
limits = mostly(st.integers(0, 30), int32s)
strategies = mostly(st.sampled_from([0, 1, 2]), int32s)  # enum values, known or not
doubles = st.floats(allow_nan=True, allow_infinity=True)
prices = mostly(st.floats(0, 50), doubles)
odd_text = st.one_of(
    st.sampled_from(["", " ", "\t\n", "\x00", "c0001\n", "c\x85", "i000\x7f", "😀", "é" * 200]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=6),  # controls likely
    st.builds(lambda n: "x" * n, st.integers(250, 300)),  # around the 256-byte limit
)
unknown_ids = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=10)
customers = mostly(st.builds(customer_id, st.integers(0, 199)) | unknown_ids, odd_text)
items = mostly(st.builds(item_id, st.integers(0, 119)) | unknown_ids, odd_text)
categories = mostly(st.sampled_from([f"cat{k}" for k in range(5)]) | unknown_ids, odd_text)


def id_lists(
    ids: st.SearchStrategy[str], *, beyond: int, required: bool = False
) -> st.SearchStrategy[list[str]]:
    """A few ids (at least one if `required`, mostly), or one more than the RPC allows."""
    few = st.lists(ids, min_size=1, max_size=3) if required else st.lists(ids, max_size=3)
    many = st.builds(lambda one: [one] * beyond, ids)
    return mostly(few, st.one_of(many, st.just([])))


@st.composite
def item_filters(draw: st.DrawFn) -> pb.ItemFilter:
    message = pb.ItemFilter(
        exclude_item_ids=draw(id_lists(items, beyond=1_001)),
        only_categories=draw(st.lists(categories, max_size=1) | id_lists(categories, beyond=101)),
        exclude_categories=draw(
            st.lists(categories, max_size=1) | id_lists(categories, beyond=101)
        ),
        in_stock_only=draw(st.booleans()),
    )
    for name in ("min_price", "max_price"):
        price = draw(optional(prices))
        if price is not None:
            setattr(message, name, price)
    return message


filters = st.one_of(st.none(), st.none(), item_filters())


def _recommend(**fields: Any) -> pb.RecommendRequest:
    return pb.RecommendRequest(**{k: v for k, v in fields.items() if v is not None})


@st.composite
def orders(draw: st.DrawFn) -> pb.Order:
    message = pb.Order(
        order_id=draw(mostly(st.uuids().map(str), odd_text)), customer_id=draw(customers)
    )
    for _ in range(draw(mostly(st.integers(1, 3), st.just(0)))):
        quantity = draw(mostly(st.sampled_from([1.0, 2.0, 0.5]), doubles))
        line = message.lines.add(item_id=draw(items), quantity=quantity)
        price = draw(optional(prices))
        if price is not None:
            line.price = price
    if draw(st.booleans()):
        # The last month (fixed once, so every run draws alike) or any int64 of seconds.
        message.timestamp.seconds = draw(
            mostly(st.integers(NOW - 86_400 * 30, NOW), st.integers(-(2**62), 2**62))
        )
        message.timestamp.nanos = draw(mostly(st.integers(0, 999_999_999), int32s))
    return message


REQUESTS: dict[str, st.SearchStrategy[Message]] = {
    "Recommend": st.builds(
        _recommend,
        customer_id=customers,
        limit=limits,
        filter=filters,
        context_item_ids=id_lists(items, beyond=101),
        strategy=strategies,
        explain=st.booleans(),
    ),
    "RecommendBatch": st.builds(
        lambda ids, limit, item_filter, strategy, explain, campaign: pb.RecommendBatchRequest(
            customer_ids=ids,
            limit=limit,
            filter=item_filter,
            strategy=strategy,
            explain=explain,
            campaign=campaign,
        ),
        id_lists(customers, beyond=10_001, required=True),
        limits,
        filters,
        strategies,
        st.booleans(),
        mostly(st.sampled_from(["", "spring"]), odd_text),
    ),
    "Bundle": st.builds(
        lambda ids, limit, item_filter: pb.BundleRequest(
            item_ids=ids, limit=limit, filter=item_filter
        ),
        id_lists(items, beyond=101, required=True),
        limits,
        filters,
    ),
    "SimilarItems": st.builds(
        lambda item, limit, item_filter: pb.SimilarItemsRequest(
            item_id=item, limit=limit, filter=item_filter
        ),
        items,
        limits,
        filters,
    ),
    "SimilarCustomers": st.builds(
        lambda customer, limit: pb.SimilarCustomersRequest(customer_id=customer, limit=limit),
        customers,
        limits,
    ),
    "Lookalike": st.builds(
        lambda seed_customers, seed_items, limit: pb.LookalikeRequest(
            seed_customer_ids=seed_customers, seed_item_ids=seed_items, limit=limit
        ),
        id_lists(customers, beyond=10_001),
        id_lists(items, beyond=1_001),
        limits,
    ),
    "RecordOrders": st.builds(
        lambda many: pb.RecordOrdersRequest(orders=many),
        mostly(st.lists(orders(), min_size=1, max_size=3), st.lists(orders(), max_size=1)),
    ),
    "GetModelInfo": st.just(pb.GetModelInfoRequest()),
}
REQUESTS["RecommendBatchChunked"] = REQUESTS["RecommendBatch"]


# --- properties ---------------------------------------------------------------------------


def _assert_documented(method: str, outcome: Outcome) -> None:
    allowed = OK_OR_BAD_INPUT | (
        {grpc.StatusCode.NOT_FOUND} if method in MAY_BE_NOT_FOUND else set()
    )
    assert outcome.code in allowed, (method, outcome)
    if outcome.code == grpc.StatusCode.INVALID_ARGUMENT:
        assert outcome.violations, outcome  # always names the field(s)


def _assert_still_serving(channel: grpc.Channel) -> None:
    normal = pb.RecommendRequest(customer_id="c0001", limit=5).SerializeToString()
    outcome = call_raw(channel, "Recommend", normal)
    assert outcome.code == grpc.StatusCode.OK, outcome
    assert len(pb.RecommendResponse.FromString(outcome.responses[0]).items) == 5


@pytest.mark.parametrize("method", METHODS)
def test_any_request_gets_a_documented_answer(channel: grpc.Channel, method: str) -> None:
    response_class = _response_class(method)

    @PROFILE
    @given(REQUESTS[method])
    def check(request: Message) -> None:
        outcome = call_raw(channel, method, request.SerializeToString())
        _assert_documented(method, outcome)
        for raw in outcome.responses:  # answers are well-formed responses
            response_class.FromString(raw)

    check()
    _assert_still_serving(channel)


@RAW_PROFILE
@given(st.sampled_from(METHODS), st.binary(max_size=200))
def test_random_bytes_get_a_documented_answer(
    channel: grpc.Channel, method: str, data: bytes
) -> None:
    _assert_documented(method, call_raw(channel, method, data))


@PROFILE
@given(st.sampled_from(METHODS), st.data())
def test_invalid_utf8_inside_a_valid_message_is_invalid_argument(
    channel: grpc.Channel, method: str, data: st.DataObject
) -> None:
    request = data.draw(REQUESTS[method])
    encoded = request.SerializeToString()
    text = "\x01BAD\x01"
    # Put the marker in one of the request's string fields, if it has any, then break it.
    target = _a_string_field(request)
    if target is None:
        outcome = call_raw(channel, method, encoded + b"\x0a\x01\xff")  # field 1, bad bytes
        assert outcome.code in OK_OR_BAD_INPUT, outcome  # GetModelInfo: field 1 is unknown
        return
    holder, name = target
    if isinstance(getattr(holder, name), str):
        setattr(holder, name, text)
    else:
        getattr(holder, name).append(text)
    broken = request.SerializeToString().replace(b"\x01BAD\x01", b"\x01B\xffD\x01")
    outcome = call_raw(channel, method, broken)
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert any("is not valid UTF-8" in why for why in outcome.violations.values()), outcome


def test_the_server_still_answers_after_all_that(channel: grpc.Channel) -> None:
    _assert_still_serving(channel)


def _a_string_field(request: Message) -> tuple[Message, str] | None:
    """A string field of the request (or of its first order's first line) to break."""
    if isinstance(request, pb.RecordOrdersRequest):
        if not request.orders:
            request.orders.add(order_id="o1", customer_id="c0001")
        return request.orders[0], "customer_id"
    for field in request.DESCRIPTOR.fields:
        if field.type == field.TYPE_STRING:
            return request, field.name
    return None


def _response_class(method: str) -> type[Message]:
    output = pb.DESCRIPTOR.services_by_name["RecommenderService"].methods_by_name[method]
    name = output.output_type.name
    response_class: type[Message] = getattr(pb, name)
    return response_class
