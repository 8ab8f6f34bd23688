"""Polls the snapshot directory and swaps in each new version once it is loaded and warm.

A version that fails to load is refused once: it is logged (version and reason) and
counted by reason, the old model keeps serving, and it is not tried again unless LATEST
moves to another version. A LATEST that names no version at all (junk, a path) is refused
the same way, once per content; a missing LATEST only means nothing was published yet.
A process with nothing serving yet (one starting, or a restarted worker) falls back to the
newest older version that loads, the one its running peers kept serving.
`announced(version)` (a Redis announcement) makes the watcher check LATEST at once instead
of at the next poll; what it loads still comes only from LATEST in the snapshot directory.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from basketry.server.holder import ModelHolder
from basketry.server.metrics import ServerMetrics
from basketry.server.model import ServingModel, build_model
from basketry.server.nearest import ANN_MIN_ROWS
from basketry.server.warmup import warm_up
from basketry.snapshot import (
    NoSnapshotPublished,
    Refusal,
    SnapshotError,
    load_snapshot,
    read_latest_version,
)
from basketry.snapshot.writer import list_versions

log = logging.getLogger(__name__)

# Calls that started on the old model finish well within this (see _collect_after_swap).
COLLECT_AFTER_SWAP_SECONDS = 1.0


class SnapshotWatcher:
    def __init__(
        self,
        snapshot_dir: Path,
        holder: ModelHolder,
        metrics: ServerMetrics,
        *,
        poll_interval: float,
        on_swap: Callable[[ServingModel], None],
        ann_min_rows: int = ANN_MIN_ROWS,
    ) -> None:
        self.snapshot_dir = snapshot_dir
        self.holder = holder
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.on_swap = on_swap
        self.ann_min_rows = ann_min_rows
        self._refused_version: str | None = None
        self._last_latest_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._announced: str | None = None
        self._collect_due: float | None = None  # monotonic time of the post-swap collection
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)

    def poll_once(self) -> bool:
        """Load LATEST if it names a version not yet served or refused; True if swapped in."""
        serving = self.holder.loaded()
        try:
            version = read_latest_version(self.snapshot_dir)
        except NoSnapshotPublished as exc:
            if str(exc) != self._last_latest_error:
                log.warning("%s; still polling every %.1fs", exc, self.poll_interval)
                self._last_latest_error = str(exc)
            return False
        except SnapshotError as exc:
            if str(exc) != self._last_latest_error:
                self._last_latest_error = str(exc)
                self.metrics.snapshot_refused(exc.reason)
                log.error(
                    "refused LATEST in %s (reason %s): %s; %s until it changes",
                    self.snapshot_dir,
                    exc.reason,
                    exc,
                    _still(serving),
                )
                if serving is None:
                    return self._fall_back(older_than=None)
            return False
        self._last_latest_error = None
        if (serving is not None and serving.version == version) or version == self._refused_version:
            return False
        return self._load(version, serving)

    def announced(self, version: str) -> None:
        """A new version was announced: check LATEST now (called from another thread)."""
        self._announced = version
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _load(self, version: str, serving: ServingModel | None) -> bool:
        if self._try_load(version):
            return True
        self._refused_version = version
        log.warning(
            "snapshot %s will not be retried until LATEST changes; %s", version, _still(serving)
        )
        if serving is None:
            return self._fall_back(older_than=version)
        return False

    def _fall_back(self, older_than: str | None) -> bool:
        """With nothing serving (a process starting while LATEST names a bad version), serve
        the newest older version that loads: the one the running replicas kept serving."""
        candidates = [
            v for v in list_versions(self.snapshot_dir) if older_than is None or v < older_than
        ]
        for version in reversed(candidates):
            log.warning("nothing serving: trying the previous version %s", version)
            if self._try_load(version):
                log.warning(
                    "serving the previous version %s until LATEST names one that loads", version
                )
                return True
        return False

    def _try_load(self, version: str) -> bool:
        """Load, warm and swap in `version`; a refusal is logged and counted, False."""
        log.info("loading snapshot %s from %s", version, self.snapshot_dir)
        started = time.perf_counter()
        try:
            model = build_model(
                load_snapshot(self.snapshot_dir / version), ann_min_rows=self.ann_min_rows
            )
            warm_up(model)
        except SnapshotError as exc:
            log.error("refused snapshot %s (reason %s): %s", version, exc.reason, exc)
            self.metrics.snapshot_refused(exc.reason)
            return False
        except Exception:
            # A bug rather than a bad file: keep the traceback, keep serving the old model.
            log.exception(
                "refused snapshot %s (reason %s): unexpected error while loading",
                version,
                Refusal.OTHER,
            )
            self.metrics.snapshot_refused(Refusal.OTHER)
            return False
        seconds = time.perf_counter() - started
        self.holder.swap(model)
        self.metrics.snapshot_loaded(
            model.version, model.created_at, dict(model.manifest["counts"]), seconds
        )
        log.info(
            "serving snapshot %s (%d customers, %d items; loaded and warmed in %.2fs)",
            model.version,
            model.n_customers,
            model.n_items,
            seconds,
        )
        self.on_swap(model)
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            announced, self._announced = self._announced, None
            try:
                if self.poll_once():
                    self._collect_due = time.monotonic() + COLLECT_AFTER_SWAP_SECONDS
                if announced is not None:
                    self._check_announced(announced)
            except Exception:
                # The watcher must outlive any one bad poll; the traceback goes to the log.
                log.exception("snapshot poll failed; polling again in %.1fs", self.poll_interval)
            self._collect_after_swap()

    def _collect_after_swap(self) -> None:
        """A full garbage collection once calls that began on the old model are done.

        An old model caught in a reference cycle (an exception's traceback holding a frame
        that held the model: Redis outages and cancelled calls make plenty) stays mapped
        until Python's next full collection, which on a long-lived heap may be minutes
        away; meanwhile its pages count twice (seen in bench/soak.py). Swaps are rare, so
        one explicit collection after each costs nothing that matters."""
        if self._collect_due is None or time.monotonic() < self._collect_due:
            return
        self._collect_due = None
        started = time.perf_counter()
        unreachable = gc.collect()
        log.debug(
            "collected %d unreachable objects after the swap in %.3fs",
            unreachable,
            time.perf_counter() - started,
        )

    def _check_announced(self, version: str) -> None:
        serving = self.holder.loaded()
        if serving is not None and serving.version != version:
            # Shared storage may show LATEST late, or the announcement is stale (a rollback
            # since): LATEST decides, and the next poll looks again.
            log.info(
                "snapshot %s was announced but LATEST in %s names %s; following LATEST",
                version,
                self.snapshot_dir,
                serving.version,
            )


def _still(serving: ServingModel | None) -> str:
    return f"still serving {serving.version}" if serving else "no snapshot serving yet"
