"""The circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from basketry.server.circuit import CircuitBreaker, CircuitOpen, CircuitState


class Down(Exception):
    """The guarded dependency failed."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def a_breaker(clock: FakeClock, moves: list[CircuitState] | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        "test dependency",
        consecutive_failures=3,
        failure_rate=0.5,
        rate_window=10,
        cool_down=2.0,
        clock=clock,
        on_transition=None if moves is None else moves.append,
    )


def state_of(breaker: CircuitBreaker) -> CircuitState:
    # A call, not the property itself: mypy would narrow the property after one assert.
    return breaker.state


def succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard(Down):
        pass


def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(Down), breaker.guard(Down):
        raise Down


def test_consecutive_failures_open_it_and_open_calls_do_not_run() -> None:
    clock = FakeClock()
    moves: list[CircuitState] = []
    breaker = a_breaker(clock, moves)
    fail(breaker)
    fail(breaker)
    assert state_of(breaker) is CircuitState.CLOSED
    fail(breaker)
    assert state_of(breaker) is CircuitState.OPEN
    assert moves == [CircuitState.OPEN]
    ran = []
    with pytest.raises(CircuitOpen, match=r"next try in 2\.00s"), breaker.guard(Down):
        ran.append(True)
    assert ran == []


def test_a_success_resets_the_run_of_failures() -> None:
    breaker = a_breaker(FakeClock())
    for _ in range(4):  # two in a row, then three successes: 40% of the window fails
        fail(breaker)
        fail(breaker)
        succeed(breaker)
        succeed(breaker)
        succeed(breaker)
    assert state_of(breaker) is CircuitState.CLOSED


def test_a_high_failure_rate_opens_it_without_a_run_of_failures() -> None:
    breaker = a_breaker(FakeClock())
    for _ in range(4):
        fail(breaker)
        succeed(breaker)
    assert state_of(breaker) is CircuitState.CLOSED  # 4 of 8: the window is not full yet
    fail(breaker)
    assert state_of(breaker) is CircuitState.CLOSED  # 5 of 9
    succeed(breaker)
    assert state_of(breaker) is CircuitState.OPEN  # 5 of the last 10


def test_after_the_cool_down_one_trial_runs_and_its_success_closes_it() -> None:
    clock = FakeClock()
    moves: list[CircuitState] = []
    breaker = a_breaker(clock, moves)
    for _ in range(3):
        fail(breaker)
    clock.now += 1.9
    with pytest.raises(CircuitOpen):
        succeed(breaker)
    clock.now += 0.1
    with breaker.guard(Down):
        assert state_of(breaker) is CircuitState.HALF_OPEN
        with pytest.raises(CircuitOpen, match="trial call is running"):
            succeed(breaker)  # one trial at a time
    assert state_of(breaker) is CircuitState.CLOSED
    assert moves == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]
    fail(breaker)
    fail(breaker)
    assert state_of(breaker) is CircuitState.CLOSED  # the run of failures started again


def test_a_failed_trial_opens_it_for_another_cool_down() -> None:
    clock = FakeClock()
    breaker = a_breaker(clock)
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    fail(breaker)
    assert state_of(breaker) is CircuitState.OPEN
    clock.now += 1.0
    with pytest.raises(CircuitOpen):
        succeed(breaker)
    clock.now += 1.0
    succeed(breaker)
    assert state_of(breaker) is CircuitState.CLOSED


def test_calls_admitted_before_it_opened_do_not_decide_the_trial() -> None:
    clock = FakeClock()
    breaker = a_breaker(clock)
    slow_success = breaker.guard(Down)
    slow_success.__enter__()  # admitted while closed, answers late
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    trial = breaker.guard(Down)
    trial.__enter__()
    slow_success.__exit__(None, None, None)
    assert state_of(breaker) is CircuitState.HALF_OPEN
    trial.__exit__(Down, Down(), None)
    assert state_of(breaker) is CircuitState.OPEN


def test_a_trial_that_never_reports_is_replaced_after_a_cool_down() -> None:
    clock = FakeClock()
    breaker = a_breaker(clock)
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    lost = breaker.guard(Down)
    lost.__enter__()
    clock.now += 2.0
    succeed(breaker)
    assert state_of(breaker) is CircuitState.CLOSED
    lost.__exit__(Down, Down(), None)  # too late to matter
    assert state_of(breaker) is CircuitState.CLOSED


def test_other_exceptions_pass_through_and_count_as_successes() -> None:
    breaker = a_breaker(FakeClock())
    for _ in range(5):
        with pytest.raises(ValueError), breaker.guard(Down):
            raise ValueError("the reply did not decode")
    assert state_of(breaker) is CircuitState.CLOSED


def test_concurrent_failures_open_it_once() -> None:
    moves: list[CircuitState] = []
    breaker = a_breaker(FakeClock(), moves)
    start = threading.Barrier(8)
    refused: list[CircuitOpen] = []

    def failing_calls() -> None:
        start.wait()
        for _ in range(50):
            try:
                fail(breaker)
            except CircuitOpen as exc:
                refused.append(exc)

    threads = [threading.Thread(target=failing_calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert moves == [CircuitState.OPEN]
    assert len(refused) >= 8 * 50 - 3 - 7  # at most the threshold plus the calls in flight


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("consecutive_failures", 0),
        ("failure_rate", 0.0),
        ("failure_rate", 1.5),
        ("rate_window", 0),
        ("cool_down", 0.0),
        ("cool_down", float("nan")),
    ],
)
def test_nonsense_thresholds_are_refused(argument: str, value: float) -> None:
    with pytest.raises(ValueError, match=argument):
        CircuitBreaker("x", **{argument: value})  # type: ignore[arg-type]
