"""Servers keeping recorded orders in a real Redis: effect, restart survival, replicas
sharing state, and Redis dying or hanging under traffic without a failed Recommend."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import redis
from support.redis_server import RedisServer
from support.servers import RunningServer, running_server

from basketry.server.circuit import COOL_DOWN_SECONDS, CircuitState
from basketry.server.redis_store import RedisOrderStore
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


def sample(running: RunningServer, name: str, **labels: str) -> float:
    value = running.server.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def redis_errors(running: RunningServer, operation: str) -> float:
    return sample(running, "basketry_redis_errors_total", operation=operation)


def short_circuited(running: RunningServer, operation: str) -> float:
    return sample(running, "basketry_redis_short_circuited_total", operation=operation)


def orders_circuit(running: RunningServer) -> CircuitState:
    """The order store's breaker, read directly: collecting the metrics would call Redis
    (the held-orders gauge) and could itself be the trial that closes it."""
    store = running.server.orders
    assert isinstance(store, RedisOrderStore)
    assert store.breaker is not None
    return store.breaker.state


def entered(running: RunningServer, state: CircuitState) -> float:
    labels = {"store": "orders", "state": state.name.lower()}
    return sample(running, "basketry_redis_circuit_transitions_total", **labels)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        time.sleep(0.02)


class Traffic:
    """Threads sending Recommend until stopped, keeping every failure."""

    def __init__(self, target: str, threads: int = 3) -> None:
        self.target = target
        self.failures: list[grpc.RpcError] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send) for _ in range(threads)]

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()

    def _send(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            stub = Stub(channel)
            while not self._stop.is_set():
                try:
                    stub.Recommend(NEW_CUSTOMER, timeout=5)
                    with self._lock:
                        self.answered += 1
                except grpc.RpcError as exc:
                    with self._lock:
                        self.failures.append(exc)


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
        with Traffic(running.target).running() as traffic:
            time.sleep(0.3)
            redis_server.kill()
            time.sleep(0.5)
            # Down: Recommend answers from the snapshot alone, RecordOrders refuses.
            assert fallback_of(running.target) == pb.FALLBACK_COLD_CUSTOMER
            with pytest.raises(grpc.RpcError) as refused:
                record(running.target, an_order("r-4", "shopper-r", "i020"))
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            redis_server.start()  # same port, empty (no persistence)
            # The traffic's next trial call (after the breaker's cool-down) finds it back.
            wait_until(lambda: orders_circuit(running) is CircuitState.CLOSED, "closed")
        assert traffic.failures == []
        assert traffic.answered > 50
        assert redis_errors(running, "orders_of") > 0
        # Refused by Redis, or by the breaker that Recommend's failures opened.
        assert redis_errors(running, "record") + short_circuited(running, "record") == 1
        # Back: recording works again and counts at once.
        assert record(running.target, an_order("r-4", "shopper-r", "i020")) == (1, 0)
        assert fallback_of(running.target) == pb.FALLBACK_UNSPECIFIED


def test_a_hung_redis_opens_the_circuit_so_recommend_stops_waiting_for_it(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    # The same Recommend over and over: without cache_ttl=0 the answer cache would serve it
    # and no call would reach the order store to act as the breaker's trial.
    with running_server(
        snapshot_dir, redis_url=redis_server.url, workers=4, cache_ttl=0
    ) as running:
        record(running.target, an_order("r-5", "shopper-r", "i000", "i010"))
        with Traffic(running.target).running() as traffic:
            with frozen(redis_server):
                # Hung, not dead: every call waits for its timeout, until the breaker opens.
                wait_until(lambda: orders_circuit(running) is CircuitState.OPEN, "open")
                tried = redis_errors(running, "orders_of")
                trials = entered(running, CircuitState.HALF_OPEN)
                skipped = short_circuited(running, "orders_of")
                answered = traffic.answered
                opened_for = time.monotonic()
                wait_until(lambda: traffic.answered >= answered + 100, "100 more answers")
                opened_for = time.monotonic() - opened_for
                # While open, Redis is asked only by trial calls (and the calls in flight
                # when it opened): every other Recommend answered without waiting for it.
                in_flight = 4
                trials_made = entered(running, CircuitState.HALF_OPEN) - trials
                assert trials_made <= opened_for / COOL_DOWN_SECONDS + 1  # one per cool-down
                assert redis_errors(running, "orders_of") - tried <= trials_made + in_flight
                not_asked = short_circuited(running, "orders_of") - skipped
                assert not_asked >= 100 - trials_made - in_flight
            # Thawed: the traffic's next trial call closes the breaker.
            wait_until(lambda: orders_circuit(running) is CircuitState.CLOSED, "closed again")
        assert traffic.failures == []
        assert entered(running, CircuitState.OPEN) >= 1
        assert sample(running, "basketry_redis_circuit_state", store="orders") == 0
        assert fallback_of(running.target) == pb.FALLBACK_UNSPECIFIED  # its orders count again


@contextmanager
def frozen(redis_server: RedisServer) -> Iterator[None]:
    """Redis stopped (SIGSTOP) as a hung host would be: connections accepted, never answered."""
    with redis.Redis.from_url(redis_server.url) as client:
        pid = int(client.info("server")["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
