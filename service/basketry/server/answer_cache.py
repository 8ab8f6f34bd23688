"""A read-through cache of Recommend answers (serialized RecommendResponse bytes).

An answer is keyed by the serving snapshot version, the customer, the customer's
generation and a digest of the normalised request, and lives for a TTL. A swap changes the
version, so it invalidates every answer by itself. Recording an order bumps the customer's
generation, so their next Recommend misses and is computed with the new order; an answer
computed under the old generation while the order was being recorded is stored under that
old generation and never read again.

Backends: basketry.server.memory_answer_cache (bounded LRU in this process) and
basketry.server.redis_answer_cache (shared by replicas). A backend that cannot answer raises
AnswerCacheUnavailable; ReadThroughCache then computes the answer as if there were no cache,
so the cache can slow nothing down for long and never fails an RPC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from basketry.server.domain import RecommendQuery
from basketry.server.throttled_log import ThrottledWarning

log = logging.getLogger(__name__)


class CacheResult(Enum):
    """Values are the `result` label of basketry_cache_requests_total."""

    HIT = "hit"
    MISS = "miss"
    ERROR = "error"  # the cache failed (e.g. a Redis timeout); answered without it
    BYPASS = "bypass"  # the cache was not asked (its circuit breaker is open)


class AnswerCacheUnavailable(Exception):
    """The cache could not be used for this call; `bypassed`: it was not even asked."""

    def __init__(self, message: str, *, bypassed: bool = False) -> None:
        super().__init__(message)
        self.bypassed = bypassed


@dataclass(frozen=True)
class AnswerKey:
    version: str
    customer_id: str
    request_digest: str  # hex digest of everything else in the request


@dataclass(frozen=True)
class Lookup:
    answer: bytes | None  # None: a miss
    generation: int  # the customer's generation the answer (to be) stored belongs to


def answer_key(version: str, query: RecommendQuery) -> AnswerKey:
    """The key of `query` (already checked and normalised, so `limit=0` and `limit=10` are
    one key) against snapshot `version`."""
    fields = dataclasses.asdict(query)
    customer_id = fields.pop("customer_id")
    fields["strategy"] = query.strategy.value
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return AnswerKey(version=version, customer_id=customer_id, request_digest=digest)


class AnswerCache(ABC):
    @abstractmethod
    def lookup(self, key: AnswerKey) -> Lookup:
        """The stored answer (if fresh) and the customer's current generation."""

    @abstractmethod
    def store(self, key: AnswerKey, generation: int, answer: bytes) -> None:
        """Keep `answer`, computed while the customer was at `generation`, for the TTL."""

    @abstractmethod
    def invalidate(self, customer_ids: Iterable[str]) -> None:
        """Bump the customers' generations: none of their stored answers is read again."""


class ReadThroughCache:
    """Answers from `cache` when it holds them, else computes and stores them; every cache
    failure is counted and logged (throttled), never raised."""

    def __init__(self, cache: AnswerCache, on_result: Callable[[CacheResult], None]) -> None:
        self.cache = cache
        self._on_result = on_result
        self._failures = ThrottledWarning(log)

    def answer(self, key: AnswerKey, compute: Callable[[], tuple[bytes, bool]]) -> bytes:
        """`compute` returns the answer and whether it may be cached (False for an answer
        degraded by a failing dependency)."""
        try:
            found = self.cache.lookup(key)
        except AnswerCacheUnavailable as exc:
            self._on_result(CacheResult.BYPASS if exc.bypassed else CacheResult.ERROR)
            self._failures.warn(f"{exc}; answering without the cache")
            return compute()[0]
        if found.answer is not None:
            self._on_result(CacheResult.HIT)
            return found.answer
        self._on_result(CacheResult.MISS)
        answer, cacheable = compute()
        if not cacheable:
            return answer
        try:
            self.cache.store(key, found.generation, answer)
        except AnswerCacheUnavailable as exc:
            self._failures.warn(f"{exc}; answer not cached")
        return answer

    def customers_ordered(self, customer_ids: Iterable[str]) -> None:
        """Drop the answers of customers who just had orders recorded."""
        wanted = list(dict.fromkeys(customer_ids))
        try:
            self.cache.invalidate(wanted)
        except AnswerCacheUnavailable as exc:
            # The orders are recorded; only the cached answers lag, for at most the TTL.
            log.warning(
                "%s; cached answers of %d customers with new orders may be served until "
                "they expire",
                exc,
                len(wanted),
            )
