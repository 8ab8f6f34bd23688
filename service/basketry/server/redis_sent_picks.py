"""The Redis-backed SentPicksStore: what each customer was sent, shared by every replica.

Keys (under the same prefix as the recorded orders, default "basketry:"):
  sent:<campaign bytes>:<campaign>:<customer>   sorted set of item ids, scored by the unix
                                                time they were last sent
The campaign's length in the key keeps campaign "a:b" + customer "c" apart from campaign
"a" + customer "b:c". Each key expires `window_seconds` after its last write, so a
campaign's memory costs nothing once it stops; items older than the window inside a live
key are trimmed on every write and ignored on every read (scores, not TTLs, decide).

A chunk's read is one pipelined round trip (one ZRANGE per customer), and so is its
write. Every Redis failure is counted (`on_error`) and raised as SentPicksUnavailable; with
a `breaker` (basketry.server.circuit) a Redis that keeps failing is left alone for a while,
calls raising SentPicksUnavailable at once, counted by `on_short_circuit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

import redis

from basketry.server.circuit import CircuitBreaker
from basketry.server.redis_calls import redis_call
from basketry.server.sent_picks import SentPicksStore, SentPicksUnavailable

DEFAULT_PREFIX = "basketry:"


class RedisSentPicks(SentPicksStore):
    def __init__(
        self,
        client: redis.Redis,
        window_seconds: int,
        *,
        prefix: str = DEFAULT_PREFIX,
        address: str = "redis",
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
        breaker: CircuitBreaker | None = None,
        on_short_circuit: Callable[[str], None] | None = None,
    ) -> None:
        """Without a `breaker` every call goes to Redis."""
        if window_seconds < 1:
            raise ValueError(f"window_seconds must be at least 1, got {window_seconds}")
        if not prefix:
            raise ValueError("the Redis key prefix must not be empty")
        self.client = client
        self.window_seconds = window_seconds
        self.prefix = prefix
        self.address = address  # for messages only: never holds a password
        self._clock = clock
        self.breaker = breaker
        self._on_error = on_error
        self._on_short_circuit = on_short_circuit

    def sent(self, campaign: str, customer_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        wanted = list(dict.fromkeys(customer_ids))
        if not wanted:
            return {}
        # Exclusive lower bound: an item sent exactly one window ago may be sent again.
        since = f"({self._clock() - self.window_seconds!r}"
        with self._calling("sent_picks"):
            pipeline = self.client.pipeline(transaction=False)
            for customer_id in wanted:
                pipeline.zrange(self._key(campaign, customer_id), since, "+inf", byscore=True)
            replies: list[list[str]] = pipeline.execute()
        return {
            customer_id: frozenset(items)
            for customer_id, items in zip(wanted, replies, strict=True)
            if items
        }

    def remember(self, campaign: str, picks: Mapping[str, Sequence[str]]) -> None:
        now = self._clock()
        with self._calling("remember_picks"):
            pipeline = self.client.pipeline(transaction=False)
            for customer_id, item_ids in picks.items():
                if not item_ids:
                    continue
                key = self._key(campaign, customer_id)
                pipeline.zadd(key, dict.fromkeys(item_ids, now))
                pipeline.zremrangebyscore(key, "-inf", now - self.window_seconds)
                pipeline.expire(key, self.window_seconds)
            pipeline.execute()

    def _key(self, campaign: str, customer_id: str) -> str:
        return f"{self.prefix}sent:{len(campaign.encode('utf-8'))}:{campaign}:{customer_id}"

    def _calling(self, operation: str) -> AbstractContextManager[None]:
        return redis_call(
            operation,
            store=f"sent-picks store {self.address}",
            breaker=self.breaker,
            on_short_circuit=self._on_short_circuit,
            on_error=self._on_error,
            error=lambda message, _refused: SentPicksUnavailable(message),
        )
