"""Soak test: sustained load with faults; the same code is the CI test (--short) and the bench.

`python bench/soak.py [--minutes 10 | --short] [--json OUT] [--work-dir DIR]`

All real processes on loopback: a redis-server with an fsync-always append-only file, and
`basketry serve --processes 2 --redis-url …` (a supervisor and two SO_REUSEPORT workers) on
snapshots trained from the bundled Online Retail data. The run:
1. measures capacity: 8 callers sending the load's mix (RecordOrders aside) back to back
   for a few seconds;
2. sends an open-loop mix at half that rate (bench/soak_load.py processes, the project's
   client) for the run's length, during which it
   - publishes a new snapshot version --swaps times (waiting each time until every worker
     serves it),
   - publishes one corrupted version (the servers must refuse it and keep serving),
   - SIGKILLs Redis and restarts it on the same port and data a few seconds later,
   - SIGTERMs one of the two workers (it drains; the supervisor starts a new one);
3. checks: zero failed requests besides the deliberate invalid ones (which must get
   INVALID_ARGUMENT), every accepted order in Redis, RSS growth under 10% for each process
   that lived through the run, every swap served, the corrupted version refused.
Prints a table, writes the figures as JSON, and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soak_checks import table
from soak_cluster import (
    PersistentRedis,
    Samples,
    SupervisedServer,
    connections_of,
    metric_sum,
    serving_versions,
    wait_until,
)
from soak_generators import GeneratorSettings, RunningGenerators, start_generators
from soak_memory import WorkerWarmup, mapped_versions
from soak_plan import WARMUP_SWAPS, Plan, plan_from
from soak_report import Report, verify_orders
from soak_snapshots import CORRUPTED_FILE, SnapshotFeed, train_variants

log = logging.getLogger("soak")
WAIT_SECONDS = 60.0  # bound on waiting for a swap, a refusal, a drain, a restart
STEADY_SECONDS = 5.0  # bound on waiting for the workers to finish a swap before the last sample


class Soak:
    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan = plan
        self.work = work
        self.report = Report(plan.deadline)
        self.swaps_served = 0
        # Workers whose RSS baseline waits for their own warm-up under load.
        self.warmup = WorkerWarmup(plan.warmup, WARMUP_SWAPS)

    def run(self) -> Report:
        plan, report = self.plan, self.report
        variants = train_variants(self.work / "variants", plan.variants)
        (self.work / "redis").mkdir()
        self.redis = PersistentRedis(self.work / "redis")
        self.redis.start()
        snapshots = self.work / "snapshots"
        self.feed = SnapshotFeed(snapshots, self.work / "staging", variants, self.redis.url)
        self.feed.publish_next()
        arrays = variants[0].arrays  # the variants share their ids (same data, other seeds)
        ids = {
            "customers": [str(c) for c in arrays["customer_ids"]],
            "items": [str(i) for i in arrays["item_ids"]],
        }
        (self.work / "ids.json").write_text(json.dumps(ids))
        try:
            self.server = SupervisedServer(snapshots, self.redis.url, self.work / "server.log")
            try:
                report.capacity(self.measure_capacity(), plan)
                report.load_average("start")
                results = self.soak()
                report.load_average("end")
                report.load(results, plan)
                report.orders_verified(verify_orders(self.redis, results))
                report.server_metrics(self.server.scrape())
            finally:
                report.server_stopped(self.server.stop(), self.server.log_text())
        finally:
            self.redis.stop()
        return report

    def measure_capacity(self) -> list[dict[str, Any]]:
        plan = self.plan
        threads = plan.capacity_callers // plan.generators
        running = start_generators(
            self.generator_settings(threads), self.work, "closed", plan.capacity_seconds
        )
        try:
            return running.results(plan.capacity_seconds, 0.0)
        finally:
            running.kill()  # only if something went wrong: they have exited

    def soak(self) -> list[dict[str, Any]]:
        """The open-loop load with the timeline of faults; the generators' results."""
        plan = self.plan
        rate = self.report.target_rps / plan.generators
        running = start_generators(
            self.generator_settings(plan.threads), self.work, "open", plan.seconds, rate
        )
        try:
            self.run_timeline(running)
            return running.results(plan.seconds, plan.flush_seconds)
        finally:
            running.kill()  # only if something went wrong: they have exited

    def run_timeline(self, running: RunningGenerators) -> None:
        handlers: dict[str, Callable[[float], tuple[float, str] | None]] = {
            "rss_initial": self.on_rss_initial,
            "rss_baseline": self.on_rss_baseline,
            "swap": self.on_swap,
            "redis_kill": self.on_redis_kill,
            "corrupt": self.on_corrupt,
            "sigterm": self.on_sigterm,
            "rss_watch": self.on_rss_watch,
            "end": self.on_end,
        }
        events = self.plan.events()
        while events:
            at, event = events.pop(0)
            time.sleep(max(0.0, running.start + at - time.time()))
            now = time.time() - running.start
            if event != "rss_watch":  # every 2 s: not worth a line
                log.info("t=%.1fs: %s", now, event)
                self.report.event(event, now)
            try:
                follow_up = handlers[event](now)
            except RuntimeError as exc:  # a wait that timed out: the run goes on, reported
                log.error("t=%.1fs: %s failed: %s", now, event, exc)
                self.report.event_failed(event, now, str(exc))
                continue
            if follow_up is not None:
                events = sorted([*events, follow_up])

    def on_rss_initial(self, now: float) -> None:
        """Memory as the load starts (reported; the check compares from the baseline)."""
        self.sample_rss("initial", now)

    def on_rss_baseline(self, now: float) -> tuple[float, str]:
        """Baselines after the warm-up: the supervisor's, and each worker's that has served
        load since the start; a worker without a connection yet waits for its own."""
        self.report.rss_sample("baseline", "supervisor", [self.server.process.pid], now)
        connections = self.worker_connections()
        self.report.connections("baseline", connections)
        loaded = [pid for pid, count in connections.items() if count > 0]
        self.report.rss_sample("baseline", "worker", loaded, now)
        for pid in connections.keys() - set(loaded):
            self.warmup.wait_for(pid, "worker")
        return (now + 2.0, "rss_watch")

    def on_rss_watch(self, now: float) -> tuple[float, str] | None:
        """Every 2 s: the baseline of each waiting worker whose own warm-up is over."""
        for pid, role in self.warmup.due(now, self.worker_connections(), self.swaps_served):
            log.info("t=%.1fs: RSS baseline of %s %d", now, role, pid)
            self.report.event(f"rss_baseline {role}", now)
            self.report.rss_sample("baseline", role, [pid], now)
        return (now + 2.0, "rss_watch") if now + 4.0 < self.plan.seconds else None

    def sample_rss(self, stage: str, now: float) -> None:
        self.report.rss_sample(stage, "supervisor", [self.server.process.pid], now)
        self.report.rss_sample(stage, "worker", self.server.worker_pids(), now)

    def on_swap(self, now: float) -> None:
        published = time.monotonic()
        version = self.feed.publish_next()
        served = self.wait_served(version)
        self.report.swap(version, now, time.monotonic() - published if served else None)
        self.swaps_served += served

    def on_redis_kill(self, now: float) -> None:
        killed = time.monotonic()
        self.redis.kill()
        time.sleep(self.plan.redis_outage)
        self.redis.start()
        self.report.redis_outage(now, time.monotonic() - killed)

    def on_corrupt(self, now: float) -> None:
        before = self.server.scrape()
        refusals = metric_sum(before, "basketry_snapshot_load_failures_total")
        workers = len(self.server.worker_pids())
        version = self.feed.publish_corrupted()

        def all_refused() -> bool:
            after = metric_sum(self.scrape(), "basketry_snapshot_load_failures_total")
            return after >= refusals + workers

        try:
            wait_until(f"every worker refusing {version}", all_refused, WAIT_SECONDS)
        except RuntimeError as exc:
            log.error("%s", exc)
        after = self.scrape()
        self.report.corrupt(
            version=version,
            file=CORRUPTED_FILE,
            at=now,
            refusals=metric_sum(after, "basketry_snapshot_load_failures_total") - refusals,
            workers=workers,
            serving_before=sorted(serving_versions(before)),
            serving_after=sorted(serving_versions(after)),
        )

    def on_sigterm(self, now: float) -> None:
        connections = self.worker_connections()
        # The busiest worker, so the drain has calls in flight.
        pid = max(connections, key=lambda p: connections[p])
        restarts = metric_sum(self.scrape(), "basketry_worker_restarts_total")
        sent = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        wait_until(
            f"worker {pid} exiting", lambda: pid not in self.server.worker_pids(), WAIT_SECONDS
        )
        drained = time.monotonic() - sent
        wait_until("a new worker", lambda: len(self.server.worker_pids()) == 2, WAIT_SECONDS)
        new_pid = next(p for p in self.server.worker_pids() if p not in connections)
        self.server.wait_for_log(rf"worker \d+ \(pid {new_pid}\) is serving", WAIT_SECONDS)
        serving = time.monotonic() - sent
        self.report.worker_restart(
            at=now,
            pid=pid,
            connections=connections,
            drain_seconds=drained,
            new_pid=new_pid,
            seconds_to_serving=serving,
            restarts=metric_sum(self.scrape(), "basketry_worker_restarts_total") - restarts,
        )
        self.warmup.wait_for(new_pid, "restarted worker")

    def on_end(self, now: float) -> None:
        """Last samples, a second before the load stops (the generators still connected),
        once no worker is mid-swap: a worker maps two versions for a moment while it loads
        one and drops the other, which is not growth (waits at most STEADY_SECONDS; a model
        never released would still show, in `versions_mapped`)."""
        try:
            wait_until(
                "every worker mapping a single snapshot version",
                lambda: all(len(mapped_versions(pid)) <= 1 for pid in self.server.worker_pids()),
                STEADY_SECONDS,
            )
        except RuntimeError as exc:
            log.warning("%s; sampling anyway", exc)
        self.sample_rss("final", now)
        self.report.connections("final", self.worker_connections())

    def wait_served(self, version: str) -> bool:
        """True once every live worker serves `version` (and none another one)."""
        try:
            wait_until(
                f"every worker serving {version}",
                lambda: serving_versions(self.scrape()) == {version},
                WAIT_SECONDS,
            )
        except RuntimeError as exc:
            log.error("%s", exc)
            return False
        return True

    def scrape(self) -> Samples:
        samples = self.server.scrape()
        self.report.seen_serving(serving_versions(samples))
        return samples

    def worker_connections(self) -> dict[int, int]:
        return {pid: connections_of(pid, self.server.port) for pid in self.server.worker_pids()}

    def generator_settings(self, threads: int) -> GeneratorSettings:
        return GeneratorSettings(
            target=self.server.target,
            processes=self.plan.generators,
            threads=threads,
            deadline=self.plan.deadline,
            flush_seconds=self.plan.flush_seconds,
            ids_file=self.work / "ids.json",
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (default 10)")
    parser.add_argument("--swaps", type=int, default=20, help="snapshot swaps (default 20)")
    parser.add_argument(
        "--short",
        action="store_true",
        help="the CI version: 1 minute, 5 swaps, 2 trained variants (overrides the above)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--work-dir", type=Path, help="keep snapshots and logs here (default: a temporary one)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s soak: %(message)s")
    if args.minutes < 1 or args.swaps < WARMUP_SWAPS + 2:
        # Shorter, the warm-up and the faults would overlap; fewer swaps, no good version
        # would follow the corrupted one.
        parser.error(f"--minutes must be at least 1 and --swaps at least {WARMUP_SWAPS + 2}")
    if shutil.which("redis-server") is None:
        parser.error("redis-server is not on PATH (Debian: apt-get install redis-server)")
    plan = plan_from(args)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="basketry-soak-"))
    if work.exists() and any(work.iterdir()):
        parser.error(f"--work-dir {work} is not empty: give a new or empty directory")
    work.mkdir(parents=True, exist_ok=True)
    log.info("plan: %s; work directory %s", plan, work)
    report = Soak(plan, work).run()
    figures = report.figures(plan, work)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
