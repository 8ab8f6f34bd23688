"""The one way Basketry connects to Redis (server stores, the answer cache, announcements).

Shared here because both the server and the training job (which announces snapshots) use
it, and the server may not import training code.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_client(
    url: str,
    *,
    password: str | None = None,
    timeout: float = 0.25,
    retries: int = 1,
    decode_responses: bool = True,
) -> redis.Redis:
    """A client for redis:// or rediss:// (TLS) `url` that fails fast: `timeout` seconds to
    connect and per command, `retries` immediate retries (one by default: a pooled connection
    may have gone stale across a Redis restart; 0 where the caller's own loop reconnects).
    A password in the URL wins over `password`. TLS and ACL options go in the URL."""
    return redis.Redis.from_url(
        url,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries=retries),
        decode_responses=decode_responses,
    )
