"""The Redis AnswerCache, shared by every replica.

Keys (under the server's prefix, default "basketry:"):
  answer_gen:<customer>                           the customer's generation (absent = 0)
  answers:<version>:<customer>:<gen>:<digest>     a serialized RecommendResponse, with a TTL

A lookup is one script call (it reads the generation, then the answer under it), a store
one SET with PX, an invalidation one pipelined INCR + PEXPIRE per customer. The lookup
script builds the answer key inside Lua, so, like the order store, this needs one Redis
server (or a primary with replicas), not Redis Cluster.

A generation key outlives every answer stored under it (it lives twice the TTL plus a
minute after its last bump), so when it expires and the generation restarts at 0, no answer
of an earlier 0 is left. Every Redis failure is counted (`on_error`) and raised as
AnswerCacheUnavailable; with a `breaker`, a failing Redis is not asked for a while and
calls raise at once, counted by `on_short_circuit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import redis

from basketry.server.answer_cache import AnswerCache, AnswerCacheUnavailable, AnswerKey, Lookup
from basketry.server.circuit import CircuitBreaker
from basketry.server.redis_calls import redis_call

# KEYS: the generation key. ARGV: answer key up to the generation, then ':' + digest.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ARGV[2])}
"""
GENERATION_MARGIN_SECONDS = 60.0


class RedisAnswerCache(AnswerCache):
    def __init__(
        self,
        client: redis.Redis,
        ttl: float,
        *,
        prefix: str = "basketry:",
        address: str = "redis",
        on_error: Callable[[str], None] | None = None,
        breaker: CircuitBreaker | None = None,
        on_short_circuit: Callable[[str], None] | None = None,
    ) -> None:
        if not (math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl}")
        if not prefix:
            raise ValueError("the Redis key prefix must not be empty")
        self.client = client
        self.ttl_ms = max(1, round(ttl * 1000))
        self.generation_ttl_ms = round((2 * ttl + GENERATION_MARGIN_SECONDS) * 1000)
        self.prefix = prefix
        self.address = address  # for messages only: never holds a password
        self.breaker = breaker
        self._on_error = on_error
        self._on_short_circuit = on_short_circuit
        self._lookup = client.register_script(_LOOKUP)

    def lookup(self, key: AnswerKey) -> Lookup:
        with self._calling("answer_lookup"):
            generation, answer = self._lookup(
                keys=[self._generation_key(key.customer_id)],
                args=[self._answer_key_head(key), f":{key.request_digest}"],
            )
        return Lookup(answer=answer or None, generation=int(generation))

    def store(self, key: AnswerKey, generation: int, answer: bytes) -> None:
        with self._calling("answer_store"):
            self.client.set(
                f"{self._answer_key_head(key)}{generation}:{key.request_digest}",
                answer,
                px=self.ttl_ms,
            )

    def invalidate(self, customer_ids: Iterable[str]) -> None:
        keys = [self._generation_key(customer_id) for customer_id in customer_ids]
        if not keys:
            return
        with self._calling("answer_invalidate"):
            pipeline = self.client.pipeline(transaction=False)
            for key in keys:
                pipeline.incr(key)
                pipeline.pexpire(key, self.generation_ttl_ms)
            pipeline.execute()

    def _generation_key(self, customer_id: str) -> str:
        return f"{self.prefix}answer_gen:{customer_id}"

    def _answer_key_head(self, key: AnswerKey) -> str:
        return f"{self.prefix}answers:{key.version}:{key.customer_id}:"

    def _calling(self, operation: str) -> AbstractContextManager[None]:
        return redis_call(
            operation,
            store=f"answer cache {self.address}",
            breaker=self.breaker,
            on_short_circuit=self._on_short_circuit,
            on_error=self._on_error,
            error=lambda message, refused: AnswerCacheUnavailable(message, bypassed=refused),
        )
