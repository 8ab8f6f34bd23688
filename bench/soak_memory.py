"""Resident memory of the soak test's server processes, and when each worker's baseline is due.

A worker's memory grows while it warms up: it touches the memory-mapped snapshot pages its
requests need, and its allocator keeps what a swap's peak (old and new model at once)
needed. So a worker's baseline is taken once it has served load (held a client connection)
for `seconds` and seen `swaps` swaps since; a worker that got no connection at first (the
kernel spreads connections, not calls, over SO_REUSEPORT workers) or was started during the
run waits for its own warm-up, and is not measured if the run ends first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A snapshot version directory's name (basketry.snapshot.writer), as it shows in a mapping.
VERSION_IN_PATH = re.compile(r"/(\d{8}T\d{6}Z-[0-9a-f]+)/")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and its parts (RssAnon, RssFile, RssShmem) of `pid` in KiB, from /proc/PID/status."""
    wanted = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            found[name] = int(value.split()[0])
    return found


def mapped_versions(pid: int) -> list[str]:
    """Snapshot versions `pid` has memory-mapped files of (from /proc/PID/maps): one while
    serving, two during a swap; more at a sample would mean a model was not released."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except FileNotFoundError:  # the process has just exited
        return []
    return sorted(set(VERSION_IN_PATH.findall(maps)))


@dataclass
class _Waiting:
    role: str
    loaded_at: float | None = None  # first seen holding a connection (seconds into the run)
    swaps_then: int = 0


class WorkerWarmup:
    """Workers whose baseline is not taken yet, and when it is due."""

    def __init__(self, seconds: float, swaps: int) -> None:
        self.seconds = seconds
        self.swaps = swaps
        self.waiting: dict[int, _Waiting] = {}

    def wait_for(self, pid: int, role: str) -> None:
        self.waiting[pid] = _Waiting(role)

    def due(
        self, now: float, connections: dict[int, int], swaps_served: int
    ) -> list[tuple[int, str]]:
        """(pid, role) of the waiting workers whose warm-up is over now; they stop waiting.
        `connections`: the live workers' connection counts (a worker not in it has exited)."""
        due = []
        for pid, waiting in list(self.waiting.items()):
            if pid not in connections:
                del self.waiting[pid]
            elif waiting.loaded_at is None:
                if connections[pid] > 0:
                    waiting.loaded_at, waiting.swaps_then = now, swaps_served
            elif (
                now - waiting.loaded_at >= self.seconds
                and swaps_served - waiting.swaps_then >= self.swaps
            ):
                due.append((pid, waiting.role))
                del self.waiting[pid]
        return due
