"""Choose the shared-state stores (recorded orders, sent campaign picks) from the settings:
Redis when a URL is set, else in process.

Each Redis store has its own connection pool and its own circuit breaker (thresholds:
basketry.server.circuit's defaults), whose state is the basketry_redis_circuit_state gauge
labelled by store ("orders", "sent_picks")."""

from __future__ import annotations

import logging

from basketry.server.circuit import CircuitBreaker
from basketry.server.memory_sent_picks import InMemorySentPicks
from basketry.server.memory_store import DEFAULT_MAX_ORDER_IDS, InMemoryOrderStore
from basketry.server.metrics import ServerMetrics
from basketry.server.orders import OrderStore, OrderStoreUnavailable
from basketry.server.redis_sent_picks import RedisSentPicks
from basketry.server.redis_store import RedisOrderStore, redacted
from basketry.server.sent_picks import SentPicksStore
from basketry.server.settings import ServerSettings
from basketry.snapshot.redis_connection import redis_client

log = logging.getLogger(__name__)


def create_order_store(settings: ServerSettings, metrics: ServerMetrics) -> OrderStore:
    if settings.redis_url is None:
        log.info(
            "recorded orders held in this process (at most %d; lost on restart, not shared)",
            settings.max_recorded_orders,
        )
        return InMemoryOrderStore(
            max_orders=settings.max_recorded_orders,
            max_order_ids=max(settings.max_recorded_orders, DEFAULT_MAX_ORDER_IDS),
            on_evict=metrics.recorded_orders_evicted.inc,
        )
    address = redacted(settings.redis_url)
    store = RedisOrderStore(
        redis_client(
            settings.redis_url,
            password=settings.redis_password,
            tls=settings.redis_tls,
            timeout=settings.redis_timeout,
        ),
        prefix=settings.redis_prefix,
        address=address,
        on_error=metrics.redis_error,
        breaker=redis_breaker("orders", address, metrics),
        on_short_circuit=metrics.redis_short_circuit,
    )
    try:
        held = store.held()
    except OrderStoreUnavailable as exc:
        # Not fatal: Recommend answers from the snapshot until Redis is back.
        log.warning("%s; starting anyway, RecordOrders answers UNAVAILABLE until it is back", exc)
    else:
        log.info(
            "recorded orders in Redis at %s (key prefix %r, %d held now)",
            address,
            settings.redis_prefix,
            held,
        )
    return store


def create_sent_picks_store(
    settings: ServerSettings, metrics: ServerMetrics
) -> SentPicksStore | None:
    """Where campaign picks are remembered; None when rotation is off (--rotation-days 0)."""
    window = settings.rotation_seconds
    if window == 0:
        log.info("mail rotation off: campaign picks are not remembered")
        return None
    if settings.redis_url is None:
        log.info(
            "mail rotation over %g days, sent picks held in this process (at most %d campaign "
            "customers; lost on restart, not shared)",
            settings.rotation_days,
            settings.max_rotation_customers,
        )
        return InMemorySentPicks(
            window,
            max_customers=settings.max_rotation_customers,
            on_evict=metrics.sent_picks_evicted.inc,
        )
    log.info("mail rotation over %g days, sent picks in Redis", settings.rotation_days)
    address = redacted(settings.redis_url)
    return RedisSentPicks(
        redis_client(
            settings.redis_url,
            password=settings.redis_password,
            tls=settings.redis_tls,
            timeout=settings.redis_timeout,
        ),
        window,
        prefix=settings.redis_prefix,
        address=address,
        on_error=metrics.redis_error,
        breaker=redis_breaker("sent_picks", address, metrics),
        on_short_circuit=metrics.redis_short_circuit,
    )


def redis_breaker(store: str, address: str, metrics: ServerMetrics) -> CircuitBreaker:
    """The breaker of one store's Redis connection, its state and transitions in `metrics`."""
    breaker = CircuitBreaker(
        f"Redis {store} store at {address}",
        on_transition=lambda state: metrics.redis_circuit_moved(store, state),
    )
    metrics.redis_circuit_created(store)
    return breaker
