"""The Redis stores behind a circuit breaker, on a real redis-server: once Redis has failed
often enough, calls fail at once with the store's usual error and never reach Redis, until
a trial after the cool-down finds it back."""

from __future__ import annotations

import pytest
from support.redis_server import RedisServer

from basketry.server.circuit import CircuitBreaker, CircuitState
from basketry.server.orders import OrderStoreUnavailable, RecordedLine, RecordedOrder
from basketry.server.redis_sent_picks import RedisSentPicks
from basketry.server.redis_store import RedisOrderStore
from basketry.server.sent_picks import SentPicksUnavailable
from basketry.snapshot.redis_connection import redis_client

COOL_DOWN = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def a_breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("test Redis", consecutive_failures=3, cool_down=COOL_DOWN, clock=clock)


def an_order(order_id: str) -> RecordedOrder:
    return RecordedOrder(order_id, "c1", 1_700_000_000, (RecordedLine("i1", 1.0),))


def test_the_order_store_stops_calling_a_failing_redis_until_a_trial_succeeds(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock()
    errors: list[str] = []
    skipped: list[str] = []
    store = RedisOrderStore(
        redis_client(redis_server.url),
        prefix="t:",
        on_error=errors.append,
        breaker=a_breaker(clock),
        on_short_circuit=skipped.append,
    )
    assert store.record([an_order("o1")]).accepted == 1
    redis_server.kill()
    for _ in range(3):
        with pytest.raises(OrderStoreUnavailable, match="failed during orders_of"):
            store.orders_of(["c1"])
    assert errors == ["orders_of"] * 3

    redis_server.start()  # back (empty), but the breaker does not know yet
    for call in (lambda: store.record([an_order("o2")]), store.held):
        with pytest.raises(OrderStoreUnavailable, match=r"not asked for .* circuit open"):
            call()
    assert skipped == ["record", "held"]
    assert errors == ["orders_of"] * 3  # Redis was not called

    clock.now += COOL_DOWN
    assert store.record([an_order("o2")]).accepted == 1  # the trial
    assert store.breaker is not None
    assert store.breaker.state is CircuitState.CLOSED
    assert store.held() == 1
    assert skipped == ["record", "held"]


def test_the_sent_picks_store_stops_calling_a_failing_redis_until_a_trial_succeeds(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock()
    errors: list[str] = []
    skipped: list[str] = []
    store = RedisSentPicks(
        redis_client(redis_server.url),
        3600,
        prefix="t:",
        on_error=errors.append,
        breaker=a_breaker(clock),
        on_short_circuit=skipped.append,
    )
    redis_server.kill()
    for _ in range(3):
        with pytest.raises(SentPicksUnavailable, match="failed during sent_picks"):
            store.sent("spring", ["c1"])
    with pytest.raises(SentPicksUnavailable, match="not asked for remember_picks"):
        store.remember("spring", {"c1": ["i1"]})
    assert (errors, skipped) == (["sent_picks"] * 3, ["remember_picks"])

    redis_server.start()
    clock.now += COOL_DOWN
    store.remember("spring", {"c1": ["i1"]})
    assert store.sent("spring", ["c1"]) == {"c1": frozenset({"i1"})}
    assert store.breaker is not None
    assert store.breaker.state is CircuitState.CLOSED


def test_a_failed_trial_keeps_redis_alone_for_another_cool_down(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock()
    errors: list[str] = []
    store = RedisOrderStore(
        redis_client(redis_server.url),
        prefix="t:",
        on_error=errors.append,
        breaker=a_breaker(clock),
    )
    redis_server.kill()
    for _ in range(3):
        with pytest.raises(OrderStoreUnavailable):
            store.held()
    clock.now += COOL_DOWN
    with pytest.raises(OrderStoreUnavailable, match="failed during held"):
        store.held()  # the trial, still down
    with pytest.raises(OrderStoreUnavailable, match="circuit open"):
        store.held()
    assert len(errors) == 4
