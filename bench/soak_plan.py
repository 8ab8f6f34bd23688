"""What a soak run does and when: its length, its load, and the timeline of its events."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

WARMUP_SWAPS = 2  # swaps served before the RSS baseline (see Plan.events)


@dataclass(frozen=True)
class Plan:
    seconds: float  # open-loop load
    swaps: int
    variants: int  # trained snapshots the swaps cycle through
    capacity_seconds: float
    redis_outage: float
    # Load-generator processes, each with its own connection: the kernel spreads connections
    # over the workers at random, so with 8 both workers get some with probability 127/128.
    generators: int = 8
    capacity_callers: int = 8
    # Threads per generator process in the open loop: at most 48 calls in flight in all,
    # below a worker's --max-concurrent-rpcs (64), so one worker holding every connection (as
    # after the restart) is not overloaded by design. A request waiting for a free thread
    # shows in the generator lag and in the latency from arrival, not in the deadline.
    threads: int = 6
    deadline: float = 2.0  # seconds a call may take, the client's retries included
    flush_seconds: float = 60.0  # re-sending deferred orders after the load

    @property
    def warmup(self) -> float:
        """Seconds of load a worker serves before its RSS baseline (with WARMUP_SWAPS swaps)."""
        return 0.15 * self.seconds

    def events(self) -> list[tuple[float, str]]:
        """(seconds after the load starts, event), in order.

        Warm-up: the first WARMUP_SWAPS swaps, then the RSS baseline (a process's memory
        settles once it has built and dropped a model or two: the allocator keeps what the
        swap peak needed). The other swaps are spread over the rest of the run; the faults
        fall between them, the corrupted version just before a good one."""
        d = self.seconds
        events = [(0.0, "rss_initial"), (self.warmup, "rss_baseline"), (d - 1.0, "end")]
        events += [((0.04 + 0.06 * k) * d, "swap") for k in range(min(WARMUP_SWAPS, self.swaps))]
        later = self.swaps - WARMUP_SWAPS
        first, last = 0.2 * d, 0.92 * d
        events += [(first + k * (last - first) / max(1, later - 1), "swap") for k in range(later)]
        events += [(0.30 * d, "redis_kill"), (0.45 * d, "corrupt"), (0.62 * d, "sigterm")]
        return sorted(events)


def plan_from(args: argparse.Namespace) -> Plan:
    if args.short:
        return Plan(seconds=60, swaps=5, variants=2, capacity_seconds=4, redis_outage=3)
    return Plan(
        seconds=args.minutes * 60,
        swaps=args.swaps,
        variants=3,
        capacity_seconds=10,
        redis_outage=5,
    )
