"""One Redis call under a store's circuit breaker, failures turned into the store's error.

Every Redis-backed store (orders, sent picks, answers) wraps its calls the same way: the
breaker (if any) may refuse the call without touching Redis, a Redis error is counted, and
either way the caller sees the store's own "unavailable" error, which the serving code
knows how to degrade around.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import redis

from basketry.server.circuit import CircuitBreaker, CircuitOpen

# Builds the store's error from the message and whether the breaker refused the call.
ErrorFactory = Callable[[str, bool], Exception]


@contextmanager
def redis_call(
    operation: str,
    *,
    store: str,
    breaker: CircuitBreaker | None,
    on_short_circuit: Callable[[str], None] | None,
    on_error: Callable[[str], None] | None,
    error: ErrorFactory,
) -> Iterator[None]:
    """Run the body as `operation` of `store`; raise `error(...)` if Redis cannot serve it."""
    guard: AbstractContextManager[None] = (
        nullcontext() if breaker is None else breaker.guard(redis.RedisError)
    )
    try:
        with guard:
            yield
    except CircuitOpen as exc:
        if on_short_circuit is not None:
            on_short_circuit(operation)
        raise error(f"{store} not asked for {operation}: {exc}", True) from exc
    except redis.RedisError as exc:
        if on_error is not None:
            on_error(operation)
        raise error(f"{store} failed during {operation}: {exc}", False) from exc
