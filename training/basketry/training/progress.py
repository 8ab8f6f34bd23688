"""Staged progress lines on stderr: each stage's start, its result and how long it took."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("basketry.training")


class Stages:
    """Times named stages and logs them unless quiet; `seconds` keeps every duration."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.note("%s ...", name)
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.note("%s done in %.2f s", name, self.seconds[name])

    def note(self, message: str, *args: object) -> None:
        if not self.quiet:
            log.info(message, *args)

    @property
    def total_seconds(self) -> float:
        return time.perf_counter() - self._started
