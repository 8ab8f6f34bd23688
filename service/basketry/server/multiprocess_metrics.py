"""The /metrics of a supervisor (`basketry serve --processes N`): its workers' metrics merged
from their files in PROMETHEUS_MULTIPROC_DIR, plus what only the supervisor knows.

Counters and histograms are summed over every worker that ever ran (a dead worker's files
stay, so totals never go back); gauges combine as each one's `multiprocess_mode` says
(basketry.server.metrics). The snapshot age is computed here at scrape time from the oldest
created timestamp any live worker serves. Each worker's memory and CPU come from /proc,
labelled by worker index; process_* describe the supervisor itself.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from basketry.server.metrics_endpoint import (
    SNAPSHOT_CREATED,
    serve_registry,
    snapshot_age,
    stop_serving,
)


class WorkerFilesCollector(Collector):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        files = glob.glob(os.path.join(self.directory, "*.db"))
        # prometheus_client leaves its multiprocess helpers unannotated.
        merged = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        for metric in merged:
            if metric.name != SNAPSHOT_CREATED:
                yield metric
                continue
            # One sample per live worker (pid label); 0 = nothing loaded in that worker yet.
            loaded = [sample.value for sample in metric.samples if sample.value > 0]
            created = min(loaded) if loaded else 0.0
            yield GaugeMetricFamily(SNAPSHOT_CREATED, metric.documentation, value=created)
            yield snapshot_age(created, time.time())


class WorkerProcessesCollector(Collector):
    """Resident memory and CPU time of each live worker, read from /proc at scrape time."""

    def __init__(self, worker_pids: Callable[[], dict[int, int]]) -> None:
        self.worker_pids = worker_pids
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.page_size = os.sysconf("SC_PAGE_SIZE")

    def collect(self) -> Iterator[Metric]:
        memory = GaugeMetricFamily(
            "basketry_worker_resident_memory_bytes",
            "Resident memory of each worker process, by worker index",
            labels=["worker"],
        )
        cpu = CounterMetricFamily(
            "basketry_worker_cpu_seconds",
            "CPU time (user + system) of each worker process, by worker index; restarts at 0 "
            "with the worker",
            labels=["worker"],
        )
        for index, pid in sorted(self.worker_pids().items()):
            usage = self._usage(pid)
            if usage is not None:
                memory.add_metric([str(index)], usage[0])
                cpu.add_metric([str(index)], usage[1])
        yield memory
        yield cpu

    def _usage(self, pid: int) -> tuple[float, float] | None:
        """(resident bytes, CPU seconds), or None if the process is gone (or no /proc)."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            return None
        # Fields after the parenthesised command (which may hold spaces): state is field 3,
        # utime 14, stime 15 (clock ticks), rss 24 (pages).
        fields = stat[stat.rindex(b")") + 2 :].split()
        cpu_seconds = (int(fields[11]) + int(fields[12])) / self.ticks
        return float(int(fields[21]) * self.page_size), cpu_seconds


class SupervisorMetrics:
    def __init__(self, directory: Path, worker_pids: Callable[[], dict[int, int]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(WorkerFilesCollector(directory))
        self.registry.register(WorkerProcessesCollector(worker_pids))
        ProcessCollector(registry=self.registry)
        self.worker_restarts = Counter(
            "basketry_worker_restarts",
            "Worker processes restarted after they exited unexpectedly",
            registry=self.registry,
        )
        self._http_server: WSGIServer | None = None

    def serve_http(self, host: str, port: int) -> int:
        self._http_server, port = serve_registry(self.registry, host, port)
        return port

    def stop_http(self) -> None:
        if self._http_server is not None:
            stop_serving(self._http_server)
            self._http_server = None
