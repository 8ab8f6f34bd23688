"""A warning that may recur on every request (a dead dependency), logged at most once per
interval with a count of the repeats held back, so the log stays readable under load."""

from __future__ import annotations

import logging
import threading
import time


class ThrottledWarning:
    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._last: float | None = None
        self._held_back = 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._held_back += 1
                return
            held_back, self._held_back, self._last = self._held_back, 0, now
        if held_back:
            message += f" ({held_back} more like it in the last {self.interval:g}s)"
        self.logger.warning(message)
