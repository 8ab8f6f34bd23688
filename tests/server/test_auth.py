"""API-key authentication (`--api-keys-file`) on a real server: every RecommenderService
method refuses a call without a known key, a read key cannot record orders, a write key
can; health, reflection and /metrics need no key, and /metrics counts the refusals."""

from __future__ import annotations

import hashlib
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.server.auth import load_api_keys
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

READ_KEY = secrets.token_urlsafe(32)
WRITE_KEY = secrets.token_urlsafe(32)
SERVICE = pb.DESCRIPTOR.services_by_name["RecommenderService"]
METHODS = [method.name for method in SERVICE.methods]
TIMEOUT = 10.0
Metadata = tuple[tuple[str, str | bytes], ...]


def key_line(role: str, key: str, name: str = "") -> str:
    return f"{role} sha256:{hashlib.sha256(key.encode()).hexdigest()} {name}".rstrip()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "api-keys"
    path.write_text(
        "# role  hash  name\n"
        f"{key_line('read', READ_KEY, 'mailings')}\n"
        f"\n{key_line('write', WRITE_KEY, 'checkout')}  # the shop\n"
    )
    return path


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, keys_file: Path) -> Iterator[RunningServer]:
    """One server for the module: the tests only add what they count to its metrics."""
    snapshot_dir = tmp_path_factory.mktemp("snapshots")
    publish_synthetic_snapshot(snapshot_dir)
    with running_server(snapshot_dir, api_keys_file=keys_file, metrics_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def channel(guarded: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(guarded.target) as opened:
        yield opened


def call(channel: grpc.Channel, method: str, metadata: Metadata = ()) -> None:
    """Call `method` with an empty request (auth comes before any check of the request)."""
    descriptor = SERVICE.methods_by_name[method]
    path = f"/{SERVICE.full_name}/{method}"
    request = getattr(pb, descriptor.input_type.name)()
    parse = getattr(pb, descriptor.output_type.name).FromString
    if descriptor.server_streaming:
        stream: grpc.UnaryStreamMultiCallable[bytes, Any] = channel.unary_stream(
            path, response_deserializer=parse
        )
        list(stream(request.SerializeToString(), metadata=metadata, timeout=TIMEOUT))
    else:
        unary: grpc.UnaryUnaryMultiCallable[bytes, Any] = channel.unary_unary(
            path, response_deserializer=parse
        )
        unary(request.SerializeToString(), metadata=metadata, timeout=TIMEOUT)


def status_of(channel: grpc.Channel, method: str, metadata: Metadata = ()) -> grpc.StatusCode:
    try:
        call(channel, method, metadata)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def bearer(key: str) -> Metadata:
    return (("authorization", f"Bearer {key}"),)


def test_every_method_refuses_a_call_without_a_key(channel: grpc.Channel) -> None:
    assert len(METHODS) >= 9
    for method in METHODS:
        assert status_of(channel, method) == grpc.StatusCode.UNAUTHENTICATED, method


@pytest.mark.parametrize(
    "metadata",
    [
        bearer("not-a-key"),
        bearer(READ_KEY + "x"),
        (("x-api-key", WRITE_KEY[:-1]),),
        (("authorization", f"Basic {READ_KEY}"),),  # the key, but not as a bearer token
        (("authorization", "Bearer "),),
    ],
    ids=["unknown", "read key plus one", "write key minus one", "basic scheme", "empty"],
)
def test_a_wrong_or_malformed_key_is_unauthenticated(
    channel: grpc.Channel, metadata: Metadata
) -> None:
    for method in ("Recommend", "RecordOrders", "RecommendBatchChunked"):
        assert status_of(channel, method, metadata) == grpc.StatusCode.UNAUTHENTICATED


def test_a_read_key_queries_but_cannot_record_orders(channel: grpc.Channel) -> None:
    stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
    request = pb.RecommendRequest(customer_id="c0000", limit=3)
    for metadata in (bearer(READ_KEY), (("x-api-key", READ_KEY),)):
        assert len(stub.Recommend(request, metadata=metadata, timeout=TIMEOUT).items) == 3
    batch = pb.RecommendBatchRequest(customer_ids=["c0000", "c0001"], limit=2)
    answers = list(stub.RecommendBatch(batch, metadata=bearer(READ_KEY), timeout=TIMEOUT))
    assert [answer.customer_id for answer in answers] == ["c0000", "c0001"]
    with pytest.raises(grpc.RpcError) as refusal:
        stub.RecordOrders(one_order("o1"), metadata=bearer(READ_KEY), timeout=TIMEOUT)
    assert refusal.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'mailings' has role read: RecordOrders needs a write key" in str(
        refusal.value.details()
    )


def test_a_write_key_calls_everything(channel: grpc.Channel) -> None:
    stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
    recorded = stub.RecordOrders(one_order("o1"), metadata=bearer(WRITE_KEY), timeout=TIMEOUT)
    assert recorded.accepted == 1
    for method in METHODS:
        # Past auth: the empty request gets the method's own answer (an error or not).
        code = status_of(channel, method, (("x-api-key", WRITE_KEY),))
        assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_health_reflection_and_metrics_need_no_key_and_metrics_count_refusals(
    guarded: RunningServer, channel: grpc.Channel
) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE.full_name), timeout=TIMEOUT
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT
    )
    services = {s.name for answer in listing for s in answer.list_services_response.service}
    assert SERVICE.full_name in services
    before = scrape_requests(guarded)
    for _ in range(3):
        status_of(channel, "Recommend")
    status_of(channel, "RecordOrders", bearer(READ_KEY))
    after = scrape_requests(guarded)
    changed = {series: after[series] - before.get(series, 0) for series in after}
    assert {series: count for series, count in changed.items() if count} == {
        ("Recommend", "UNAUTHENTICATED"): 3,
        ("RecordOrders", "PERMISSION_DENIED"): 1,
    }


def scrape_requests(running: RunningServer) -> dict[tuple[str, str], float]:
    """basketry_requests_total by (method, code), from the /metrics port (without a key)."""
    url = f"http://127.0.0.1:{running.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        text = response.read().decode()
    return {
        (sample.labels["method"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "basketry_requests"
        for sample in family.samples
        if sample.name == "basketry_requests_total"
    }


def one_order(order_id: str) -> pb.RecordOrdersRequest:
    return pb.RecordOrdersRequest(
        orders=[
            pb.Order(
                order_id=order_id,
                customer_id="c0000",
                lines=[pb.OrderLine(item_id="i001", quantity=1)],
            )
        ]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"read {READ_KEY}\n", "line 1: the second field must be sha256:<64 hex digits>"),
        ("# only a comment\n\n", "lists no keys: every call would be refused"),
        (f"admin {key_line('read', READ_KEY)[5:]}\n", "line 1: the role must be one of read"),
        (f"{key_line('read', READ_KEY)}\n{key_line('write', READ_KEY)}\n", "line 2: the same key"),
        (f"{key_line('read', READ_KEY)} two words\n", "expected '<role> sha256:<64 hex"),
    ],
    ids=["a key, not its hash", "no keys", "unknown role", "listed twice", "extra field"],
)
def test_a_bad_keys_file_is_refused_naming_the_line_but_never_quoting_it(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ValueError) as refusal:
        load_api_keys(path)
    assert message in str(refusal.value) and str(path) in str(refusal.value)
    assert READ_KEY not in str(refusal.value)
    assert hashlib.sha256(READ_KEY.encode()).hexdigest() not in str(refusal.value)


def test_a_missing_keys_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read api_keys_file .*No such file"):
        load_api_keys(tmp_path / "absent")
