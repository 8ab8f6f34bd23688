"""Prometheus metrics of one server (its own registry, so several servers fit in one process).

Names carry the `basketry_` prefix and base units; labels never hold customer or item ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from threading import Lock
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from basketry.server.answer_cache import CacheResult
from basketry.server.circuit import CircuitState
from basketry.server.domain import Fallback

# Requests answer in well under a millisecond to a few hundred: resolve that range.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "basketry_requests",
            "RPCs handled, by method and status code",
            ["method", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "basketry_request_duration_seconds",
            "RPC handling time, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("basketry_requests_in_flight", "RPCs being handled now", registry=r)
        self.fallbacks = Counter(
            "basketry_fallbacks",
            "Answers that fell back to popularity, by reason",
            ["reason"],
            registry=r,
        )
        self.items_returned = Counter(
            "basketry_items_returned",
            "Items (or customers) returned, by method",
            ["method"],
            registry=r,
        )
        self.snapshot = Info("basketry_snapshot", "The serving snapshot version", registry=r)
        self.snapshot_load_seconds = Gauge(
            "basketry_snapshot_load_duration_seconds",
            "Time the last successful load took (verify, build, warm up)",
            registry=r,
        )
        self.snapshot_load_failures = Counter(
            "basketry_snapshot_load_failures", "Snapshot versions refused at load", registry=r
        )
        self.snapshot_customers = Gauge(
            "basketry_snapshot_customers", "Customers in the snapshot", registry=r
        )
        self.snapshot_items = Gauge("basketry_snapshot_items", "Items in the snapshot", registry=r)
        self.snapshot_rules = Gauge(
            "basketry_snapshot_rules", "Co-purchase rules in the snapshot", registry=r
        )
        self.recorded_orders = Counter(
            "basketry_recorded_orders",
            "Orders sent to RecordOrders, by outcome (accepted, duplicate: id seen before)",
            ["outcome"],
            registry=r,
        )
        self.recorded_orders_evicted = Counter(
            "basketry_recorded_orders_evicted",
            "Recorded orders dropped because the store was full (lost until retraining)",
            registry=r,
        )
        self.recorded_orders_expired = Counter(
            "basketry_recorded_orders_expired",
            "Recorded orders dropped because the serving snapshot's training data holds them",
            registry=r,
        )
        self.recorded_orders_held = Gauge(
            "basketry_recorded_orders_held", "Recorded orders held by the store now", registry=r
        )
        self.sent_picks_evicted = Counter(
            "basketry_sent_picks_evicted",
            "Campaign customers whose sent picks were forgotten because the in-process store "
            "was full (they may be sent the same items again)",
            registry=r,
        )
        self.redis_errors = Counter(
            "basketry_redis_errors",
            "Redis calls that failed or timed out, by store operation (orders_of failures "
            "mean answers from the snapshot alone; record failures were answered UNAVAILABLE; "
            "sent_picks / remember_picks failures mean a campaign chunk without rotation)",
            ["operation"],
            registry=r,
        )
        self.redis_short_circuited = Counter(
            "basketry_redis_short_circuited",
            "Store operations answered as failed without calling Redis, because its circuit "
            "breaker was open after repeated errors (same consequences as redis_errors)",
            ["operation"],
            registry=r,
        )
        self.redis_circuit_state = Gauge(
            "basketry_redis_circuit_state",
            "Circuit breaker of each Redis connection, by store: 0 closed (calls go to "
            "Redis), 1 half-open (one trial call), 2 open (no calls, answers without Redis)",
            ["store"],
            registry=r,
        )
        self.redis_circuit_transitions = Counter(
            "basketry_redis_circuit_transitions",
            "Circuit breaker state changes, by store and the state entered",
            ["store", "state"],
            registry=r,
        )
        self.cache_requests = Counter(
            "basketry_cache_requests",
            "Recommend calls by answer-cache result: hit, miss (computed and stored), error "
            "(the cache failed; computed without it), bypass (its circuit breaker is open)",
            ["result"],
            registry=r,
        )
        self._created_at: datetime | None = None
        self._lock = Lock()
        self._http_server: WSGIServer | None = None
        Gauge(
            "basketry_snapshot_age_seconds",
            "Seconds since the serving snapshot was created (0 before the first load)",
            registry=r,
        ).set_function(self._snapshot_age)

    def snapshot_loaded(
        self, version: str, created_at: datetime, counts: dict[str, int], seconds: float
    ) -> None:
        self.snapshot.info({"version": version})
        self.snapshot_load_seconds.set(seconds)
        self.snapshot_customers.set(counts.get("customers", 0))
        self.snapshot_items.set(counts.get("items", 0))
        self.snapshot_rules.set(counts.get("rules", 0))
        with self._lock:
            self._created_at = created_at

    def orders_recorded(self, accepted: int, duplicates: int) -> None:
        self.recorded_orders.labels(outcome="accepted").inc(accepted)
        self.recorded_orders.labels(outcome="duplicate").inc(duplicates)

    def track_recorded_orders_held(self, held: Callable[[], float]) -> None:
        self.recorded_orders_held.set_function(held)

    def redis_error(self, operation: str) -> None:
        self.redis_errors.labels(operation=operation).inc()

    def redis_short_circuit(self, operation: str) -> None:
        self.redis_short_circuited.labels(operation=operation).inc()

    def track_redis_circuit(self, store: str, state: Callable[[], CircuitState]) -> None:
        self.redis_circuit_state.labels(store=store).set_function(lambda: float(state()))

    def redis_circuit_moved(self, store: str, state: CircuitState) -> None:
        self.redis_circuit_transitions.labels(store=store, state=state.name.lower()).inc()

    def cache_result(self, result: CacheResult) -> None:
        self.cache_requests.labels(result=result.value).inc()

    def fallback(self, fallback: Fallback) -> None:
        if fallback is not Fallback.NONE:
            self.fallbacks.labels(reason=fallback.value).inc()

    def serve_http(self, host: str, port: int) -> int:
        """Expose /metrics on host:port (0 = any free port); returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http_server = server
        return int(server.server_port)

    def stop_http(self) -> None:
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None

    def _snapshot_age(self) -> float:
        with self._lock:
            created_at = self._created_at
        return max(0.0, time.time() - created_at.timestamp()) if created_at else 0.0
