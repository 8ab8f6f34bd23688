"""Polls the snapshot directory and swaps in each new version once it is loaded and warm.

A version that fails to load is refused once: it is logged and counted, the old model
keeps serving, and it is not tried again unless LATEST moves to another version.
`announced(version)` (a Redis announcement) makes the watcher check LATEST at once instead
of at the next poll; what it loads still comes only from LATEST in the snapshot directory.
"""

from __future__ import annotations

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
from basketry.snapshot import SnapshotError, load_snapshot, read_latest_version

log = logging.getLogger(__name__)


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
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)

    def poll_once(self) -> bool:
        """Load LATEST if it names a version not yet served or refused; True if swapped in."""
        try:
            version = read_latest_version(self.snapshot_dir)
        except SnapshotError as exc:
            if str(exc) != self._last_latest_error:
                log.warning("%s; still polling every %.1fs", exc, self.poll_interval)
                self._last_latest_error = str(exc)
            return False
        self._last_latest_error = None
        serving = self.holder.loaded()
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
        log.info("loading snapshot %s from %s", version, self.snapshot_dir)
        started = time.perf_counter()
        try:
            model = build_model(
                load_snapshot(self.snapshot_dir / version), ann_min_rows=self.ann_min_rows
            )
            warm_up(model)
        except SnapshotError as exc:
            self._refuse(version, serving)
            log.error("refused snapshot %s: %s", version, exc)
            return False
        except Exception:
            # A bug rather than a bad file: keep the traceback, keep serving the old model.
            self._refuse(version, serving)
            log.exception("refused snapshot %s: unexpected error while loading", version)
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

    def _refuse(self, version: str, serving: ServingModel | None) -> None:
        self._refused_version = version
        self.metrics.snapshot_load_failures.inc()
        still = f"still serving {serving.version}" if serving else "no snapshot serving yet"
        log.warning("snapshot %s will not be retried until LATEST changes; %s", version, still)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            announced, self._announced = self._announced, None
            try:
                self.poll_once()
                if announced is not None:
                    self._check_announced(announced)
            except Exception:
                # The watcher must outlive any one bad poll; the traceback goes to the log.
                log.exception("snapshot poll failed; polling again in %.1fs", self.poll_interval)

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
