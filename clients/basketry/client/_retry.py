"""Retrying UNAVAILABLE and CANCELLED (and only those) with jittered exponential backoff.

UNAVAILABLE: no snapshot yet, a server draining or unreachable. CANCELLED: this client
never cancels its own calls (they block, bounded by a deadline), so it comes from the
server side: a server that shuts down cancels the calls it had received but not started
(HTTP/2 RST_STREAM), as the soak test saw when a worker drained. Sending again is safe
for every RPC: the reads change nothing and RecordOrders is idempotent by order id. Every
other status code means the request itself was wrong or the server failed in a way
another attempt would not fix, so it is raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from basketry.client._errors import error_from_rpc

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first; delays grow by `multiplier` up to a cap."""

    retries: int = 2
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff delays must be >= 0")

    def should_retry(self, error: grpc.RpcError, attempt: int) -> bool:
        """`attempt` counts from 0 for the first try."""
        return attempt < self.retries and _is_retryable(error)

    def wait_before_retry(self, attempt: int, method: str, error: grpc.RpcError) -> None:
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**attempt)
        # Jitter in [ceiling/2, ceiling] keeps many clients from retrying in lockstep.
        delay = random.uniform(ceiling / 2, ceiling)
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        logger.info(
            "%s %s (%s); retry %d of %d in %.2fs",
            method,
            error.code().name if isinstance(error, grpc.Call) else "failed",
            details,
            attempt + 1,
            self.retries,
            delay,
        )
        time.sleep(delay)


def call_with_retries(send: Callable[[], T], *, method: str, policy: RetryPolicy) -> T:
    """Runs `send` (one RPC attempt) until it succeeds, fails for good, or retries run out."""
    attempt = 0
    while True:
        try:
            return send()
        except grpc.RpcError as error:
            if not policy.should_retry(error, attempt):
                raise error_from_rpc(error, method) from error
            policy.wait_before_retry(attempt, method, error)
            attempt += 1


RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


def _is_retryable(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() in RETRYABLE
