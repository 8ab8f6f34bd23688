"""Prometheus metrics of one server (its own registry, so several servers fit in one process).

Names carry the `basketry_` prefix and base units; labels never hold customer or item ids.
Every label value known in advance (methods, status codes the server answers, fallback
reasons, cache results, record outcomes, circuit states of the configured stores, snapshot
refusal reasons) is created at start, so each series exists, at 0, from the first scrape.

The same metrics serve a supervised worker process (`basketry serve --processes N`): there
prometheus_client keeps each value in a file of PROMETHEUS_MULTIPROC_DIR and the supervisor
merges the workers' files (basketry.server.multiprocess_metrics). Each gauge therefore says
how workers combine (`multiprocess_mode`; ignored in one process), and no value is computed
at scrape time in the worker: the snapshot age is derived from the created timestamp by
whoever serves /metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

from basketry.server.answer_cache import CacheResult
from basketry.server.circuit import CircuitState
from basketry.server.domain import Fallback
from basketry.server.metrics_endpoint import (
    SNAPSHOT_CREATED,
    SnapshotAgeCollector,
    serve_registry,
    stop_serving,
)
from basketry.server.orders import OrderStoreUnavailable
from basketry.snapshot import Refusal
from basketry.v1 import recommender_pb2

# Requests answer in well under a millisecond to a few hundred: resolve that range.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Items per answer: 0 (nothing to say) and the usual page sizes up to the 1000 limit.
RESPONSE_ITEM_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

METHODS = tuple(
    method.name
    for method in recommender_pb2.DESCRIPTOR.services_by_name["RecommenderService"].methods
)
# Methods answering with a list of items (or customers), for basketry_response_items.
LISTING_METHODS = (
    "Recommend",
    "RecommendBatch",
    "Bundle",
    "SimilarItems",
    "SimilarCustomers",
    "Lookalike",
)
# Codes created at start for every method: success, and those the server itself answers
# (basketry.server.errors), so error ratios and alerts see a 0 rather than no series.
INITIAL_CODES = ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE", "INTERNAL")
RECORD_OUTCOMES = ("accepted", "duplicate")
# The `operation` label of the Redis error counters, by store (the names the Redis stores
# pass: redis_store, redis_sent_picks, redis_answer_cache); `export` is export-orders's own.
REDIS_OPERATIONS = {
    "orders": ("record", "orders_of", "expire_through", "held"),
    "sent_picks": ("sent_picks", "remember_picks"),
    "answers": ("answer_lookup", "answer_store", "answer_invalidate"),
}


def package_version() -> str:
    try:
        return metadata.version("basketry")
    except metadata.PackageNotFoundError:
        return "unknown"


class MethodMetrics:
    """One RPC method's request series, resolved once: a call does no label lookups."""

    def __init__(self, requests: Counter, duration: Histogram, in_flight: Gauge, method: str):
        self.method = method
        self.in_flight = in_flight.labels(method=method)
        self.duration = duration.labels(method=method)
        self._requests = requests
        self._by_code = {code: requests.labels(method=method, code=code) for code in INITIAL_CODES}

    def finished(self, code: str, seconds: float) -> None:
        counter = self._by_code.get(code)
        if counter is None:  # a rare code (CANCELLED, DEADLINE_EXCEEDED...): created on use
            counter = self._by_code.setdefault(code, self._requests.labels(self.method, code))
        counter.inc()
        self.duration.observe(seconds)
        self.in_flight.dec()


class ServerMetrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, *, shared_order_store: bool = False
    ) -> None:
        """`shared_order_store`: recorded orders live in Redis, so every process reports the
        same count (combined as a max, not summed)."""
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        # Everything a worker process reports goes through `live*` gauge modes: the files of
        # a dead worker's gauges are dropped (mark_process_dead), while its counters and
        # histograms stay, so totals never go back.
        Gauge(
            "basketry_build_info",
            "1, labelled with the Basketry package version serving",
            ["version"],
            registry=r,
            multiprocess_mode="livemax",
        ).labels(version=package_version()).set(1)
        self.requests = Counter(
            "basketry_requests",
            "RecommenderService RPCs handled, by method and final status code",
            ["method", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "basketry_request_duration_seconds",
            "RPC handling time, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "basketry_requests_in_flight",
            "RPCs being handled now, by method",
            ["method"],
            registry=r,
            multiprocess_mode="livesum",  # each process handles its own share
        )
        self.response_items = Histogram(
            "basketry_response_items",
            "Items (customers for SimilarCustomers and Lookalike) returned per answer, by "
            "method; RecommendBatch counts each customer's row",
            ["method"],
            buckets=RESPONSE_ITEM_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "basketry_fallbacks",
            "Answers that fell back to popularity, by reason",
            ["reason"],
            registry=r,
        )
        self.cache_requests = Counter(
            "basketry_cache_requests",
            "Recommend calls by answer-cache result: hit, miss (computed and stored), error "
            "(the cache failed; computed without it), bypass (its circuit breaker is open)",
            ["result"],
            registry=r,
        )
        self._define_snapshot_metrics(r)
        self._define_store_metrics(r, shared_order_store)
        self._methods = {
            method: MethodMetrics(self.requests, self.request_duration, self.in_flight, method)
            for method in METHODS
        }
        self._items = {m: self.response_items.labels(method=m) for m in LISTING_METHODS}
        self._fallbacks = {
            f: self.fallbacks.labels(reason=f.value) for f in Fallback if f is not Fallback.NONE
        }
        self._cache_results = {c: self.cache_requests.labels(result=c.value) for c in CacheResult}
        for outcome in RECORD_OUTCOMES:
            self.recorded_orders.labels(outcome=outcome)
        self._http_server: WSGIServer | None = None

    def _define_snapshot_metrics(self, r: CollectorRegistry) -> None:
        self.snapshot_info = Gauge(
            "basketry_snapshot_info",
            "1 for the snapshot version serving (0 for one served before in this process)",
            ["version"],
            registry=r,
            # During a swap some processes serve the new version, some the old: both show.
            multiprocess_mode="livemax",
        )
        self.snapshot_loaded_flag = Gauge(
            "basketry_snapshot_loaded",
            "1 once a snapshot serves, 0 while none has loaded (requests get UNAVAILABLE)",
            registry=r,
            multiprocess_mode="livemin",  # 0 while any process is without a snapshot
        )
        self._serving_version: str | None = None
        self._created_ts = 0.0
        self.snapshot_created = Gauge(
            SNAPSHOT_CREATED,
            "When the serving snapshot was created (unix seconds; 0 before the first load)",
            registry=r,
            # Per process: the supervisor reports the oldest one serving, and its age.
            multiprocess_mode="liveall",
        )
        r.register(SnapshotAgeCollector(lambda: self._created_ts))
        self.snapshot_load_seconds = Gauge(
            "basketry_snapshot_load_duration_seconds",
            "Time the last successful load took (verify, build, warm up)",
            registry=r,
            multiprocess_mode="livemax",  # the slowest process
        )
        self.snapshot_loads = Counter(
            "basketry_snapshot_loads",
            "Snapshot versions loaded and swapped in (the first load included)",
            registry=r,
        )
        self.snapshot_load_failures = Counter(
            "basketry_snapshot_load_failures",
            "Snapshot versions refused at load (the previous one keeps serving), by reason: "
            + ", ".join(reason.value for reason in Refusal),
            ["reason"],
            registry=r,
        )
        self._refusals = {
            reason: self.snapshot_load_failures.labels(reason=reason.value) for reason in Refusal
        }
        # Counts of the snapshot loaded last by any process (the newest during a swap).
        self.snapshot_customers = Gauge(
            "basketry_snapshot_customers",
            "Customers in the snapshot",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.snapshot_items = Gauge(
            "basketry_snapshot_items",
            "Items in the snapshot",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.snapshot_rules = Gauge(
            "basketry_snapshot_rules",
            "Co-purchase rules in the snapshot",
            registry=r,
            multiprocess_mode="livemostrecent",
        )

    def _define_store_metrics(self, r: CollectorRegistry, shared_order_store: bool) -> None:
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
            "basketry_recorded_orders_held",
            "Recorded orders held by the store, as of this server's last record or expiry",
            registry=r,
            # In process, each worker holds its own orders; in Redis all see the same ones.
            multiprocess_mode="livemax" if shared_order_store else "livesum",
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
            multiprocess_mode="livemax",  # the worst state any process is in
        )
        self.redis_circuit_transitions = Counter(
            "basketry_redis_circuit_transitions",
            "Circuit breaker state changes, by store and the state entered",
            ["store", "state"],
            registry=r,
        )

    def method(self, name: str) -> MethodMetrics:
        """The series of RPC `name` (a RecommenderService method)."""
        found = self._methods.get(name)
        if found is None:  # a method added to the proto but not to this build's list
            found = self._methods.setdefault(
                name, MethodMetrics(self.requests, self.request_duration, self.in_flight, name)
            )
        return found

    def answered(self, method: str, returned: int, fallback: Fallback) -> None:
        """One answer (or RecommendBatch row) of `returned` items, and its fallback if any."""
        self._items[method].observe(returned)
        if fallback is not Fallback.NONE:
            self._fallbacks[fallback].inc()

    def snapshot_loaded(
        self, version: str, created_at: datetime, counts: dict[str, int], seconds: float
    ) -> None:
        old = self._serving_version
        if old is not None and old != version:
            # Set to 0 first: in a worker, remove() alone would leave its file at 1; and a
            # worker cannot remove() at all (prometheus_client warns on every swap).
            self.snapshot_info.labels(version=old).set(0)
            if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                self.snapshot_info.remove(old)
        self._serving_version = version
        self.snapshot_info.labels(version=version).set(1)
        self.snapshot_load_seconds.set(seconds)
        self.snapshot_customers.set(counts.get("customers", 0))
        self.snapshot_items.set(counts.get("items", 0))
        self.snapshot_rules.set(counts.get("rules", 0))
        self._created_ts = created_at.timestamp()
        self.snapshot_created.set(self._created_ts)
        self.snapshot_loads.inc()
        self.snapshot_loaded_flag.set(1)

    def snapshot_refused(self, reason: Refusal) -> None:
        self._refusals[reason].inc()

    def orders_recorded(self, accepted: int, duplicates: int) -> None:
        self.recorded_orders.labels(outcome="accepted").inc(accepted)
        self.recorded_orders.labels(outcome="duplicate").inc(duplicates)

    def orders_held(self, held: Callable[[], int]) -> bool:
        """Set the held-orders gauge from the store after a change; False (gauge unchanged)
        while the store cannot say: its failure is already counted as a Redis error."""
        try:
            self.recorded_orders_held.set(held())
        except OrderStoreUnavailable:
            return False
        return True

    def redis_error(self, operation: str) -> None:
        self.redis_errors.labels(operation=operation).inc()

    def redis_short_circuit(self, operation: str) -> None:
        self.redis_short_circuited.labels(operation=operation).inc()

    def redis_circuit_created(self, store: str) -> None:
        """A Redis store and its breaker exist (closed): their series show from now on."""
        self.redis_circuit_state.labels(store=store).set(CircuitState.CLOSED)
        for state in CircuitState:
            self.redis_circuit_transitions.labels(store=store, state=state.name.lower())
        for operation in REDIS_OPERATIONS.get(store, ()):
            self.redis_errors.labels(operation=operation)
            self.redis_short_circuited.labels(operation=operation)

    def redis_circuit_moved(self, store: str, state: CircuitState) -> None:
        self.redis_circuit_state.labels(store=store).set(state)
        self.redis_circuit_transitions.labels(store=store, state=state.name.lower()).inc()

    def cache_result(self, result: CacheResult) -> None:
        self._cache_results[result].inc()

    def serve_http(self, host: str, port: int) -> int:
        """Expose /metrics on host:port (0 = any free port); returns the bound port."""
        self._http_server, port = serve_registry(self.registry, host, port)
        return port

    def stop_http(self) -> None:
        if self._http_server is not None:
            stop_serving(self._http_server)
            self._http_server = None
