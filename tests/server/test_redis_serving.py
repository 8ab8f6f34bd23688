"""Servers keeping recorded orders in a real Redis: effect, restart survival, replicas
sharing state, and Redis dying under traffic without a failed Recommend."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from support.redis_server import RedisServer
from support.servers import RunningServer, running_server

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
NEW_CUSTOMER = pb.RecommendRequest(customer_id="shopper-r", limit=10)


def an_order(order_id: str, customer_id: str, *items: str) -> pb.Order:
    message = pb.Order(order_id=order_id, customer_id=customer_id)
    for item in items:
        message.lines.add(item_id=item, quantity=1.0)
    return message


def record(target: str, *orders: pb.Order) -> tuple[int, int]:
    with grpc.insecure_channel(target) as channel:
        answer = Stub(channel).RecordOrders(pb.RecordOrdersRequest(orders=orders), timeout=5)
    return answer.accepted, answer.duplicates


def fallback_of(target: str, request: pb.RecommendRequest = NEW_CUSTOMER) -> int:
    with grpc.insecure_channel(target) as channel:
        return int(Stub(channel).Recommend(request, timeout=5).fallback)


def redis_errors(running: RunningServer, operation: str) -> float:
    labels = {"operation": operation}
    value = running.server.metrics.registry.get_sample_value("basketry_redis_errors_total", labels)
    return value or 0.0


def test_a_recorded_order_counts_at_once_and_survives_a_server_restart(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with running_server(snapshot_dir, redis_url=redis_server.url) as first:
        assert fallback_of(first.target) == pb.FALLBACK_COLD_CUSTOMER
        assert record(first.target, an_order("r-1", "shopper-r", "i000", "i010")) == (1, 0)
        assert fallback_of(first.target) == pb.FALLBACK_UNSPECIFIED
    with running_server(snapshot_dir, redis_url=redis_server.url) as restarted:
        assert fallback_of(restarted.target) == pb.FALLBACK_UNSPECIFIED
        assert record(restarted.target, an_order("r-1", "shopper-r", "i000")) == (0, 1)


def test_two_servers_sharing_redis_see_each_others_orders(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with (
        running_server(snapshot_dir, redis_url=redis_server.url) as one,
        running_server(snapshot_dir, redis_url=redis_server.url) as two,
    ):
        assert record(one.target, an_order("r-2", "shopper-r", "i000", "i010")) == (1, 0)
        assert fallback_of(two.target) == pb.FALLBACK_UNSPECIFIED
        assert record(two.target, an_order("r-2", "shopper-r", "i000")) == (0, 1)


def test_redis_dying_under_traffic_fails_no_recommend(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with running_server(snapshot_dir, redis_url=redis_server.url, workers=4) as running:
        record(running.target, an_order("r-3", "shopper-r", "i000", "i010"))
        failures: list[grpc.RpcError] = []
        answered = [0]
        stop = threading.Event()

        def traffic() -> None:
            with grpc.insecure_channel(running.target) as channel:
                stub = Stub(channel)
                while not stop.is_set():
                    try:
                        stub.Recommend(NEW_CUSTOMER, timeout=5)
                        answered[0] += 1
                    except grpc.RpcError as exc:
                        failures.append(exc)

        threads = [threading.Thread(target=traffic) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)
            redis_server.kill()
            time.sleep(0.5)
            # Down: Recommend answers from the snapshot alone, RecordOrders refuses.
            assert fallback_of(running.target) == pb.FALLBACK_COLD_CUSTOMER
            with pytest.raises(grpc.RpcError) as refused:
                record(running.target, an_order("r-4", "shopper-r", "i020"))
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            redis_server.start()  # same port, empty (no persistence)
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        assert answered[0] > 50
        assert redis_errors(running, "orders_of") > 0
        assert redis_errors(running, "record") == 1
        # Back: recording works again and counts at once.
        assert record(running.target, an_order("r-4", "shopper-r", "i020")) == (1, 0)
        assert fallback_of(running.target) == pb.FALLBACK_UNSPECIFIED
