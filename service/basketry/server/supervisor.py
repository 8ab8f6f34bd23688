"""`basketry serve --processes N`: N worker processes serve one gRPC port, a supervisor
watches them and serves the merged /metrics.

Python runs one request at a time per process, so more cores need more processes. Each
worker is a fresh interpreter (never a fork of one that imported grpc) running this same
`basketry serve` command line, told by basketry.server.worker_role that it is worker i: it
binds the port with SO_REUSEPORT (the kernel spreads connections over the workers), runs its
own snapshot watcher (a new snapshot is swapped in by every worker) and writes its metrics
to files in a private PROMETHEUS_MULTIPROC_DIR, which the supervisor merges on each scrape
(basketry.server.multiprocess_metrics) and removes at exit.

The supervisor forwards SIGTERM/SIGINT to the workers and waits for them to drain. A worker
that dies while serving is restarted (logged, counted in basketry_worker_restarts_total);
one that fails before it is ready at the first start, or MAX_FAILED_STARTS times in a row
later, stops the whole server with exit code 1 rather than restarting it forever.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from prometheus_client import multiprocess

from basketry.server.multiprocess_metrics import SupervisorMetrics
from basketry.server.settings import ServerSettings
from basketry.server.worker_role import WORKER_VARIABLE, WorkerRole

log = logging.getLogger(__name__)

MONITOR_INTERVAL = 0.2  # seconds between checks of the workers
MAX_FAILED_STARTS = 3  # in a row, per worker, once the server has served
MAX_RESTART_DELAY = 10.0
# Beyond the drain grace: a worker still loading a snapshot finishes that first.
STOP_MARGIN = 30.0


def supervise(settings: ServerSettings, command: Sequence[str] | None = None) -> int:
    """Run `settings.processes` workers until SIGTERM/SIGINT; returns the exit code.

    `command` starts one worker; by default this process's own command line (it must be a
    `basketry serve` one) run by this interpreter."""
    port = reserve_port(settings.host, settings.port)
    if command is None:
        command = [sys.executable, "-m", "basketry.cli.main", *sys.argv[1:]]
    if settings.redis_url is None:
        log.warning(
            "%d processes without --redis-url: each holds its own recorded orders, sent "
            "campaign picks and cached answers (a RecordOrders call reaches one process only)",
            settings.processes,
        )
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping the workers", signal.Signals(signum).name)
        stop_requested.set()

    directory = Path(tempfile.mkdtemp(prefix="basketry-metrics-"))
    try:
        supervisor = Supervisor(settings, command, port, directory)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        return supervisor.run(stop_requested)
    finally:
        shutil.rmtree(directory)


def reserve_port(host: str, port: int) -> int:
    """Check host:port is free (0: choose a free one) and return it. The workers bind it with
    SO_REUSEPORT, which would silently share a port another server holds: refuse that here."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        # As gRPC does, so a port with connections still closing is not taken for busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror} (port in use?)") from exc
        return int(probe.getsockname()[1])


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    ready_pipe: int  # read end; the worker writes one byte once it serves
    ready: bool = False


class Supervisor:
    def __init__(
        self, settings: ServerSettings, command: Sequence[str], port: int, directory: Path
    ) -> None:
        self.settings = settings
        self.command = list(command)
        self.port = port
        self.directory = directory
        self.metrics = SupervisorMetrics(directory, self.worker_pids)
        self._workers: dict[int, _Worker] = {}
        self._failed_starts = dict.fromkeys(range(settings.processes), 0)
        self._restart_at: dict[int, float] = {}
        self._all_ready_once = False

    def worker_pids(self) -> dict[int, int]:
        return {index: worker.process.pid for index, worker in list(self._workers.items())}

    def run(self, stop_requested: threading.Event) -> int:
        count = self.settings.processes
        log.info(
            "starting %d worker processes on %s:%d (their metrics merged from %s)",
            count,
            self.settings.host,
            self.port,
            self.directory,
        )
        serving = True
        try:
            for index in range(count):
                self._start(index)
            if self.settings.metrics_port is not None:
                port = self.metrics.serve_http(self.settings.host, self.settings.metrics_port)
                log.info("metrics on http://%s:%d/metrics", self.settings.host, port)
            while serving and not stop_requested.wait(MONITOR_INTERVAL):
                serving = self._check_workers()
        finally:
            stopped_cleanly = self._stop_workers()
            self.metrics.stop_http()
        return 0 if serving and stopped_cleanly else 1

    def _start(self, index: int) -> None:
        read_end, write_end = os.pipe()
        role = WorkerRole(index, self.port, os.getpid(), write_end)
        environment = {
            **os.environ,
            WORKER_VARIABLE: role.encode(),
            "PROMETHEUS_MULTIPROC_DIR": str(self.directory),
        }
        try:
            process = subprocess.Popen(self.command, env=environment, pass_fds=(write_end,))
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        self._workers[index] = _Worker(index, process, read_end)
        log.info("worker %d started (pid %d)", index, process.pid)

    def _check_workers(self) -> bool:
        """Note who is ready, restart who died; False when the server must stop."""
        now = time.monotonic()
        for index, at in list(self._restart_at.items()):
            if now >= at:
                del self._restart_at[index]
                self._start(index)
        for worker in list(self._workers.values()):
            if not worker.ready:
                self._check_ready(worker)
            code = worker.process.poll()
            if code is not None and not self._exited(worker, code):
                return False
        if not self._all_ready_once and self._all_ready():
            self._all_ready_once = True
            log.info(
                "all %d workers serving on %s:%d",
                self.settings.processes,
                self.settings.host,
                self.port,
            )
        return True

    def _all_ready(self) -> bool:
        workers = self._workers.values()
        return len(workers) == self.settings.processes and all(w.ready for w in workers)

    def _check_ready(self, worker: _Worker) -> None:
        try:
            signalled = os.read(worker.ready_pipe, 1)
        except BlockingIOError:
            return  # not yet
        if signalled:
            worker.ready = True
            self._failed_starts[worker.index] = 0
            log.info("worker %d (pid %d) is serving", worker.index, worker.process.pid)

    def _exited(self, worker: _Worker, code: int) -> bool:
        """Forget a worker that exited and plan its restart; False to stop the server."""
        del self._workers[worker.index]
        os.close(worker.ready_pipe)
        # Its live gauges go; its counters and histograms stay in the totals.
        multiprocess.mark_process_dead(worker.process.pid, str(self.directory))  # type: ignore[no-untyped-call]
        how = _exit_description(code)
        if not worker.ready:
            if not self._all_ready_once:
                log.error(
                    "worker %d (pid %d) %s before it was serving; stopping (see its log above)",
                    worker.index,
                    worker.process.pid,
                    how,
                )
                return False
            failed = self._failed_starts[worker.index] = self._failed_starts[worker.index] + 1
            if failed >= MAX_FAILED_STARTS:
                log.error(
                    "worker %d failed to start %d times in a row (last: %s); stopping",
                    worker.index,
                    failed,
                    how,
                )
                return False
        delay = min(2.0 ** self._failed_starts[worker.index] - 1, MAX_RESTART_DELAY)
        log.warning(
            "worker %d (pid %d) %s unexpectedly; restarting it in %.0fs",
            worker.index,
            worker.process.pid,
            how,
            delay,
        )
        self.metrics.worker_restarts.inc()
        self._restart_at[worker.index] = time.monotonic() + delay
        return True

    def _stop_workers(self) -> bool:
        """SIGTERM every worker and wait for their drain; True if all stopped cleanly."""
        self._restart_at.clear()
        workers = list(self._workers.values())
        for worker in workers:
            worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.grace + STOP_MARGIN
        clean = True
        for worker in workers:
            try:
                code = worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "worker %d (pid %d) did not stop: killing it", worker.index, worker.process.pid
                )
                worker.process.kill()
                code = worker.process.wait()
            os.close(worker.ready_pipe)
            # Stopped by our SIGTERM before it could install its handler: still clean.
            if code not in (0, -signal.SIGTERM):
                log.error("worker %d %s while stopping", worker.index, _exit_description(code))
                clean = False
        self._workers.clear()
        log.info("basketry supervisor stopped (%d workers)", len(workers))
        return clean


def _exit_description(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
