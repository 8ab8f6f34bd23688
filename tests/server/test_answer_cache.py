"""The Recommend answer cache in a real server, in process and in a real Redis: a hit gives
the same bytes as the miss before it, a recorded order and a snapshot swap invalidate, a
Redis answer expires with its TTL, and Redis dying under traffic fails no Recommend."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.redis_server import RedisServer
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
KNOWN = pb.RecommendRequest(customer_id="c0003", limit=10, explain=True)
NEW_CUSTOMER = pb.RecommendRequest(customer_id="shopper-c", limit=10)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Server settings for each cache backend."""
    if request.param == "memory":
        return {}
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    return {"redis_url": redis_server.url}


def cache_requests(running: RunningServer, result: str) -> float:
    value = running.server.metrics.registry.get_sample_value(
        "basketry_cache_requests_total", {"result": result}
    )
    return value or 0.0


def raw_recommend(target: str, request: pb.RecommendRequest) -> bytes:
    """The answer exactly as sent on the wire."""
    with grpc.insecure_channel(target) as channel:
        call: Callable[..., bytes] = channel.unary_unary(
            "/basketry.v1.RecommenderService/Recommend",
            request_serializer=pb.RecommendRequest.SerializeToString,
            response_deserializer=None,
        )
        answer: bytes = call(request, timeout=5)
        return answer


def an_order(order_id: str, customer_id: str, *items: str) -> pb.Order:
    message = pb.Order(order_id=order_id, customer_id=customer_id)
    for item in items:
        message.lines.add(item_id=item, quantity=1.0)
    return message


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        time.sleep(0.02)


@pytest.fixture
def cached(snapshot_dir: Path, backend: dict[str, Any]) -> Iterator[RunningServer]:
    with running_server(snapshot_dir, **backend) as running:
        yield running


def test_a_hit_after_a_miss_gives_the_same_bytes(cached: RunningServer) -> None:
    first = raw_recommend(cached.target, KNOWN)
    assert (cache_requests(cached, "miss"), cache_requests(cached, "hit")) == (1, 0)
    second = raw_recommend(cached.target, KNOWN)
    assert (cache_requests(cached, "miss"), cache_requests(cached, "hit")) == (1, 1)
    assert second == first
    assert len(pb.RecommendResponse.FromString(first).items) == 10
    # limit 0 means 10: the same normalised request, so the same entry
    assert raw_recommend(cached.target, pb.RecommendRequest(customer_id="c0003", explain=True))
    assert cache_requests(cached, "hit") == 2
    raw_recommend(cached.target, pb.RecommendRequest(customer_id="c0003", limit=5))
    assert cache_requests(cached, "miss") == 2


def test_a_recorded_order_changes_the_next_answer(cached: RunningServer) -> None:
    with grpc.insecure_channel(cached.target) as channel:
        stub = Stub(channel)
        assert stub.Recommend(NEW_CUSTOMER).fallback == pb.FALLBACK_COLD_CUSTOMER
        assert stub.Recommend(NEW_CUSTOMER).fallback == pb.FALLBACK_COLD_CUSTOMER
        assert cache_requests(cached, "hit") == 1
        stub.Recommend(KNOWN)
        recorded = stub.RecordOrders(
            pb.RecordOrdersRequest(orders=[an_order("o-1", "shopper-c", "i000", "i010")])
        )
        assert recorded.accepted == 1
        after = stub.Recommend(NEW_CUSTOMER)
        assert after.fallback != pb.FALLBACK_COLD_CUSTOMER
        assert cache_requests(cached, "miss") == 3
        stub.Recommend(KNOWN)  # another customer's answer is still cached
        assert cache_requests(cached, "hit") == 2
        # A duplicate changes nothing, so it keeps the answer cached.
        stub.RecordOrders(pb.RecordOrdersRequest(orders=[an_order("o-1", "shopper-c", "i000")]))
        assert stub.Recommend(NEW_CUSTOMER) == after
        assert cache_requests(cached, "hit") == 3


def test_a_new_snapshot_is_answered_from_at_once(cached: RunningServer, snapshot_dir: Path) -> None:
    before = pb.RecommendResponse.FromString(raw_recommend(cached.target, KNOWN))
    newer = publish_synthetic_snapshot(snapshot_dir, seed=7).name
    wait_until(lambda: cached.server.holder.current().version == newer, "swapped")
    after = pb.RecommendResponse.FromString(raw_recommend(cached.target, KNOWN))
    assert (before.model_version, after.model_version) != (newer, before.model_version)
    assert after.model_version == newer
    assert cache_requests(cached, "miss") == 2


def test_a_redis_answer_expires_with_its_ttl(snapshot_dir: Path, redis_server: RedisServer) -> None:
    with running_server(snapshot_dir, redis_url=redis_server.url, cache_ttl=0.3) as running:
        raw_recommend(running.target, KNOWN)
        raw_recommend(running.target, KNOWN)
        assert (cache_requests(running, "miss"), cache_requests(running, "hit")) == (1, 1)
        time.sleep(0.4)
        raw_recommend(running.target, KNOWN)
        assert cache_requests(running, "miss") == 2


def test_replicas_share_answers_and_their_invalidation(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with (
        running_server(snapshot_dir, redis_url=redis_server.url) as one,
        running_server(snapshot_dir, redis_url=redis_server.url) as two,
    ):
        first = raw_recommend(one.target, NEW_CUSTOMER)
        assert raw_recommend(two.target, NEW_CUSTOMER) == first
        assert cache_requests(two, "hit") == 1
        with grpc.insecure_channel(one.target) as channel:
            Stub(channel).RecordOrders(
                pb.RecordOrdersRequest(orders=[an_order("o-2", "shopper-c", "i000", "i010")])
            )
        after = pb.RecommendResponse.FromString(raw_recommend(two.target, NEW_CUSTOMER))
        assert after.fallback != pb.FALLBACK_COLD_CUSTOMER
        assert cache_requests(two, "miss") == 1


def test_no_cache_when_the_ttl_is_zero(snapshot_dir: Path) -> None:
    with running_server(snapshot_dir, cache_ttl=0) as running:
        assert raw_recommend(running.target, KNOWN) == raw_recommend(running.target, KNOWN)
        assert cache_requests(running, "miss") + cache_requests(running, "hit") == 0
        assert running.server.answer_cache is None


def test_redis_dying_under_traffic_fails_no_recommend(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    customers = [f"c{index:04d}" for index in range(20)]
    failures: list[grpc.RpcError] = []
    with (
        running_server(snapshot_dir, redis_url=redis_server.url) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = Stub(channel)

        def round_of_requests() -> None:
            for customer_id in customers:
                try:
                    stub.Recommend(pb.RecommendRequest(customer_id=customer_id), timeout=5)
                except grpc.RpcError as exc:
                    failures.append(exc)

        def hits_again() -> bool:
            round_of_requests()
            return cache_requests(running, "hit") > len(customers)

        round_of_requests()
        round_of_requests()
        assert cache_requests(running, "hit") == len(customers)
        redis_server.kill()
        for _ in range(3):
            round_of_requests()
        assert failures == []
        degraded = cache_requests(running, "error") + cache_requests(running, "bypass")
        assert degraded == 3 * len(customers)
        assert cache_requests(running, "error") >= 1
        assert cache_requests(running, "bypass") >= 1  # the breaker opened
        redis_server.start()
        wait_until(hits_again, "hitting the cache again")
        assert failures == []
