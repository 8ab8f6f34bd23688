"""Choose the Recommend answer cache from the settings: none when its TTL is 0, Redis when a
URL is set (own connection pool, own circuit breaker: store label "answers"), else in
process."""

from __future__ import annotations

import logging

from basketry.server.answer_cache import ReadThroughCache
from basketry.server.memory_answer_cache import InMemoryAnswerCache
from basketry.server.metrics import ServerMetrics
from basketry.server.order_stores import redis_breaker
from basketry.server.redis_answer_cache import RedisAnswerCache
from basketry.server.redis_store import redacted
from basketry.server.settings import ServerSettings
from basketry.snapshot.redis_connection import redis_client

log = logging.getLogger(__name__)


def create_answer_cache(
    settings: ServerSettings, metrics: ServerMetrics
) -> ReadThroughCache | None:
    if settings.cache_ttl == 0:
        log.info("Recommend answer cache off")
        return None
    if settings.redis_url is None:
        log.info(
            "Recommend answers cached in this process for %gs (at most %d answers)",
            settings.cache_ttl,
            settings.cache_max_entries,
        )
        memory = InMemoryAnswerCache(settings.cache_ttl, settings.cache_max_entries)
        return ReadThroughCache(memory, metrics.cache_result)
    address = redacted(settings.redis_url)
    log.info("Recommend answers cached in Redis at %s for %gs", address, settings.cache_ttl)
    shared = RedisAnswerCache(
        # Answers stay bytes: they are serialized protobuf.
        redis_client(
            settings.redis_url,
            password=settings.redis_password,
            tls=settings.redis_tls,
            timeout=settings.redis_timeout,
            decode_responses=False,
        ),
        settings.cache_ttl,
        prefix=settings.redis_prefix,
        address=address,
        on_error=metrics.redis_error,
        breaker=redis_breaker("answers", address, metrics),
        on_short_circuit=metrics.redis_short_circuit,
    )
    return ReadThroughCache(shared, metrics.cache_result)
