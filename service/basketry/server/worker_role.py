"""What a supervised worker process (`basketry serve --processes N`) is told by its supervisor.

The supervisor starts each worker as a fresh interpreter running the same `basketry serve`
command line, with one extra environment variable, WORKER_VARIABLE: the worker's index, the
gRPC port every worker shares (fixed by the supervisor even when the command says 0), the
supervisor's pid and a pipe to report readiness on. PROMETHEUS_MULTIPROC_DIR is set beside it,
so the worker's metrics go to files the supervisor merges. The variable is deliberately not
`BASKETRY_*`: that namespace holds the options of the command itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from basketry.server.settings import ServerSettings

log = logging.getLogger(__name__)

WORKER_VARIABLE = "_BASKETRY_WORKER"
# Seconds between checks that the supervisor is still there.
SUPERVISOR_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerRole:
    index: int
    port: int
    supervisor_pid: int
    ready_fd: int  # write end of the readiness pipe

    def encode(self) -> str:
        return f"{self.index},{self.port},{self.supervisor_pid},{self.ready_fd}"

    @classmethod
    def from_environment(cls) -> WorkerRole | None:
        """This process's role, or None when it was not started by a supervisor."""
        value = os.environ.get(WORKER_VARIABLE)
        if value is None:
            return None
        try:
            index, port, supervisor_pid, ready_fd = (int(part) for part in value.split(","))
        except ValueError:
            raise ValueError(
                f"{WORKER_VARIABLE}={value!r} is not index,port,pid,fd (it is set by "
                "`basketry serve --processes N` for its workers, never by hand)"
            ) from None
        return cls(index, port, supervisor_pid, ready_fd)

    def settings(self, settings: ServerSettings) -> ServerSettings:
        """The worker's settings: the shared port, and no /metrics (the supervisor's)."""
        return dataclasses.replace(settings, port=self.port, metrics_port=None)

    def report_ready(self) -> None:
        """Tell the supervisor this worker serves (its snapshot loaded, its port bound)."""
        os.write(self.ready_fd, b"1")
        os.close(self.ready_fd)

    def watch_supervisor(self, on_gone: Callable[[], None]) -> None:
        """Call `on_gone` if the supervisor dies (a worker must not serve on unsupervised)."""

        def watch() -> None:
            while os.getppid() == self.supervisor_pid:
                time.sleep(SUPERVISOR_CHECK_INTERVAL)
            log.error("worker %d: supervisor %d is gone; stopping", self.index, self.supervisor_pid)
            on_gone()

        threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
