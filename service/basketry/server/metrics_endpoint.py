"""What serves /metrics, shared by a single server and the supervisor of several
(basketry.server.multiprocess_metrics): the HTTP endpoint, and the snapshot age, the one
value computed at scrape time (from the created timestamp, so it works across processes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

SNAPSHOT_CREATED = "basketry_snapshot_created_timestamp_seconds"
SNAPSHOT_AGE = "basketry_snapshot_age_seconds"


def snapshot_age(created_ts: float, now: float) -> GaugeMetricFamily:
    """basketry_snapshot_age_seconds from the created timestamp (0: nothing loaded yet)."""
    return GaugeMetricFamily(
        SNAPSHOT_AGE,
        "Seconds since the serving snapshot was created (0 before the first load)",
        value=max(0.0, now - created_ts) if created_ts > 0 else 0.0,
    )


class SnapshotAgeCollector(Collector):
    """The age computed at scrape time, from this process's own created timestamp."""

    def __init__(self, created_ts: Callable[[], float]) -> None:
        self._created_ts = created_ts

    def collect(self) -> Iterator[Metric]:
        yield snapshot_age(self._created_ts(), time.time())


def serve_registry(registry: CollectorRegistry, host: str, port: int) -> tuple[WSGIServer, int]:
    """An HTTP /metrics endpoint for `registry` in a background thread, and its bound port."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, int(server.server_port)


def stop_serving(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()
