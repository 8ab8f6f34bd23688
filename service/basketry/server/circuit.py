"""A circuit breaker: stop calling a dependency that keeps failing, try it again later.

Closed: calls go through; the breaker opens after `consecutive_failures` failures in a row,
or when at least `failure_rate` of the last `rate_window` calls failed (a flapping
dependency that answers now and then never makes a run of failures).
Open: calls fail at once with CircuitOpen, without touching the dependency, for
`cool_down` seconds.
Half-open: after the cool-down, one call goes through as a trial; the others still fail at
once. The trial's success closes the breaker, its failure opens it for another cool-down.
A trial that has not reported back within a cool-down (it cannot happen with socket
timeouts shorter than the cool-down, but a lost trial must not block the dependency for
good) is replaced by the next call.

Calls admitted while closed that finish after the breaker opened change nothing: only the
trial decides when it closes. An exception that is not one of the failure types (say, a
reply that does not decode) says nothing of the dependency's health and counts as a success.

The breaker is safe to call from many threads; `clock` (monotonic seconds) is injectable
for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum

log = logging.getLogger(__name__)

# Defaults sized for Redis at a 0.25 s timeout with one retry (a hung Redis costs a call
# 0.5 s): five such calls in a row, or half of the last twenty, open the breaker; then one
# request a second pays for the trial while every other answers without Redis.
CONSECUTIVE_FAILURES = 5
FAILURE_RATE = 0.5
RATE_WINDOW = 20
COOL_DOWN_SECONDS = 1.0


class CircuitState(IntEnum):
    """Values are the basketry_redis_circuit_state gauge's."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpen(Exception):
    """The call was not made: the dependency failed recently and is resting."""


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        consecutive_failures: int = CONSECUTIVE_FAILURES,
        failure_rate: float = FAILURE_RATE,
        rate_window: int = RATE_WINDOW,
        cool_down: float = COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[CircuitState], None] | None = None,
    ) -> None:
        if consecutive_failures < 1:
            raise ValueError(f"consecutive_failures must be at least 1, got {consecutive_failures}")
        if not 0.0 < failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be in (0, 1], got {failure_rate}")
        if rate_window < 1:
            raise ValueError(f"rate_window must be at least 1, got {rate_window}")
        if not cool_down > 0.0:
            raise ValueError(f"cool_down must be a positive number of seconds, got {cool_down}")
        self.name = name  # for logs: what is being guarded
        self.consecutive_failures = consecutive_failures
        self.failure_rate = failure_rate
        self.rate_window = rate_window
        self.cool_down = cool_down
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures_in_a_row = 0
        self._recent: deque[bool] = deque(maxlen=rate_window)  # True: that call failed
        self._opened_at = 0.0
        self._trial: int | None = None  # id of the trial in flight, when half-open
        self._trial_started = 0.0
        self._trials = 0

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    @contextmanager
    def guard(self, *failures: type[BaseException]) -> Iterator[None]:
        """Run the body as one call of the dependency, raising CircuitOpen instead when the
        breaker says not to; an exception of a `failures` type counts as a failed call."""
        trial = self._admit()
        try:
            yield
        except failures:
            self._finish(trial, failed=True)
            raise
        except BaseException:
            self._finish(trial, failed=False)
            raise
        self._finish(trial, failed=False)

    def _admit(self) -> int | None:
        """None for an ordinary call, the trial's id for a trial; raises CircuitOpen."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return None
            now = self._clock()
            if self._state is CircuitState.OPEN:
                resting = self.cool_down - (now - self._opened_at)
                if resting > 0:
                    raise CircuitOpen(f"{self.name}: circuit open, next try in {resting:.2f}s")
                self._move(CircuitState.HALF_OPEN)
            elif now - self._trial_started < self.cool_down:
                raise CircuitOpen(f"{self.name}: circuit half-open, a trial call is running")
            self._trials += 1
            self._trial = self._trials
            self._trial_started = now
            return self._trial

    def _finish(self, trial: int | None, *, failed: bool) -> None:
        with self._lock:
            if trial is not None:
                if self._state is CircuitState.HALF_OPEN and trial == self._trial:
                    self._trial = None
                    if failed:
                        # Once per cool-down for as long as the outage lasts: not a warning.
                        self._opened_at = self._clock()
                        self._move(CircuitState.OPEN)
                        log.debug("%s: the trial call failed, circuit open again", self.name)
                    else:
                        self._close()
                return
            if self._state is not CircuitState.CLOSED:
                return  # admitted before the breaker opened: the trial decides now
            self._recent.append(failed)
            self._failures_in_a_row = self._failures_in_a_row + 1 if failed else 0
            if self._failures_in_a_row >= self.consecutive_failures:
                self._open(self._clock(), f"{self._failures_in_a_row} failed calls in a row")
            elif len(self._recent) == self.rate_window:
                failed_calls = sum(self._recent)
                if failed_calls >= self.failure_rate * self.rate_window:
                    reason = f"{failed_calls} of the last {self.rate_window} calls failed"
                    self._open(self._clock(), reason)

    def _open(self, now: float, reason: str) -> None:
        self._opened_at = now
        self._move(CircuitState.OPEN)
        log.warning(
            "%s: circuit open (%s); calls fail fast for %gs, then one trial call",
            self.name,
            reason,
            self.cool_down,
        )

    def _close(self) -> None:
        self._failures_in_a_row = 0
        self._recent.clear()
        self._move(CircuitState.CLOSED)
        log.info("%s: circuit closed, the trial call succeeded", self.name)

    def _move(self, state: CircuitState) -> None:
        # Under the lock, so the transitions reported are in the order they happened.
        self._state = state
        if self._on_transition is not None:
            self._on_transition(state)
