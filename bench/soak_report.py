"""What the soak test saw, gathered into its figures (JSON; soak_checks judges them).

RSS is VmRSS from /proc/PID/status (resident anonymous + file-backed + shared pages; the
memory-mapped snapshot arrays a process has touched count as file-backed), in KiB, with its
parts. It is sampled for the supervisor and each worker as the load starts (reported only),
after the warm-up (soak_memory: each worker after its own warm-up under load) and a second
before the load ends; growth is checked for every process sampled at both of the last two.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from soak_checks import checks
from soak_cluster import PersistentRedis, Samples, metric_sum
from soak_load import allowed
from soak_memory import mapped_versions, memory_kib
from soak_plan import Plan

KEY_PREFIX = "basketry:"  # the servers' default --redis-prefix
MAX_NOTES = 20
CPU_NOTE = (
    "the load generators, the supervisor, both workers and Redis share this machine's {cpus} "
    "CPUs; the capacity is that of the whole setup, not of the server alone"
)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(p99, 2),
    }


def verify_orders(redis_server: PersistentRedis, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Look up every order id that was answered OK: in the set of recorded ids, and held in
    its customer's sorted set (the layout of basketry.server.redis_store)."""
    accepted = [
        (order_id, customer) for r in results for order_id, customer in r["orders"]["accepted"]
    ]
    client = redis_server.client()
    try:
        present: list[int] = []
        ids = [order_id for order_id, _ in accepted]
        for offset in range(0, len(ids), 1000):
            present += client.smismember(f"{KEY_PREFIX}order_ids", ids[offset : offset + 1000])
        by_customer: dict[str, set[str]] = defaultdict(set)
        for order_id, customer in accepted:
            by_customer[customer].add(order_id)
        pipeline = client.pipeline(transaction=False)
        for customer in by_customer:
            pipeline.zrange(f"{KEY_PREFIX}orders:{customer}", 0, -1)
        held_ids = {json.loads(entry)["id"] for held in pipeline.execute() for entry in held}
    finally:
        client.close()
    lost = [order_id for order_id, found in zip(ids, present, strict=True) if not found]
    not_held = [order_id for order_id in ids if order_id not in held_ids]
    return {
        "accepted": len(ids),
        "in_redis": len(ids) - len(lost),
        "held": len(ids) - len(not_held),
        "lost": len(lost),
        "not_held": len(not_held),
        "lost_examples": lost[:MAX_NOTES],
    }


class Report:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.target_rps = 0.0
        self.figures_so_far: dict[str, Any] = {"load_average": {}}
        self.rss: dict[str, dict[int, dict[str, Any]]] = {
            "initial": {},
            "baseline": {},
            "final": {},
        }
        self.events: list[tuple[str, float]] = []
        self.failed_events: list[dict[str, Any]] = []
        self.connection_counts: dict[str, dict[int, int]] = {}
        self.swaps: list[dict[str, Any]] = []
        self.serving_seen: set[str] = set()

    # What the run saw, as it happens.
    def capacity(self, results: list[dict[str, Any]], plan: Plan) -> None:
        by_kind = merged_outcomes(results)
        answered = sum(
            n
            for kind, counts in by_kind.items()
            for outcome, n in counts.items()
            if allowed(kind, outcome)
        )
        rate = answered / plan.capacity_seconds
        self.target_rps = rate / 2
        self.figures_so_far["capacity"] = {
            "callers": plan.capacity_callers,
            "seconds": plan.capacity_seconds,
            "mix_per_second": round(rate, 1),
            "recommend_per_second": round(
                by_kind.get("Recommend", Counter())["OK"] / plan.capacity_seconds, 1
            ),
            "errors": sum(
                n
                for kind, counts in by_kind.items()
                for outcome, n in counts.items()
                if not allowed(kind, outcome)
            ),
        }

    def load_average(self, when: str) -> None:
        self.figures_so_far["load_average"][when] = [round(x, 2) for x in os.getloadavg()]

    def rss_sample(self, stage: str, role: str, pids: list[int], at: float) -> None:
        for pid in pids:
            self.rss[stage][pid] = {
                "role": role,
                **memory_kib(pid),
                "versions_mapped": mapped_versions(pid),
                "at_s": round(at, 1),
            }

    def event(self, name: str, at: float) -> None:
        self.events.append((name, round(at, 1)))

    def event_failed(self, name: str, at: float, reason: str) -> None:
        self.failed_events.append({"event": name, "at_s": round(at, 1), "reason": reason})

    def connections(self, stage: str, counts: dict[int, int]) -> None:
        self.connection_counts[stage] = counts

    def swap(self, version: str, at: float, seconds: float | None) -> None:
        served = None if seconds is None else round(seconds, 2)
        self.swaps.append({"version": version, "at_s": round(at, 1), "served_after_s": served})

    def redis_outage(self, at: float, seconds: float) -> None:
        self.figures_so_far["redis"] = {"killed_at_s": round(at, 1), "outage_s": round(seconds, 2)}

    def corrupt(self, **figures: Any) -> None:
        figures["at"] = round(figures["at"], 1)
        self.figures_so_far["corrupt"] = figures

    def worker_restart(self, **figures: Any) -> None:
        for name in ("at", "drain_seconds", "seconds_to_serving"):
            figures[name] = round(figures[name], 2)
        self.figures_so_far["worker_restart"] = figures

    def seen_serving(self, versions: set[str]) -> None:
        self.serving_seen |= versions

    def load(self, results: list[dict[str, Any]], plan: Plan) -> None:
        outcomes = merged_outcomes(results)
        sent = sum(sum(counts.values()) for counts in outcomes.values())
        latency: dict[str, list[float]] = defaultdict(list)
        for result in results:
            for kind, values in result["latency_ms"].items():
                latency[kind] += values
        failed = {
            f"{kind} {outcome}": n
            for kind, counts in outcomes.items()
            for outcome, n in counts.items()
            if not allowed(kind, outcome)
        }
        orders = [result["orders"] for result in results]
        never = [order_id for o in orders for order_id, _ in o["never_accepted"]]
        self.figures_so_far["load"] = {
            "target_rps": round(self.target_rps, 1),
            "achieved_rps": round(sent / plan.seconds, 1),
            "seconds": plan.seconds,
            "generator_processes": plan.generators,
            "generator_lag_p99_ms": round(max(r["lag_ms"].get("p99", 0) for r in results), 1),
            "generator_lag_max_ms": round(max(r["lag_ms"].get("max", 0) for r in results), 1),
            # Answered within the deadline but over it counted from the arrival, because the
            # request waited for a generator thread: not failures (see Plan.threads).
            "ok_but_late_from_arrival": sum(r["late_from_arrival"] for r in results),
        }
        self.figures_so_far["requests"] = {k: dict(v) for k, v in sorted(outcomes.items())}
        self.figures_so_far["failed"] = sum(failed.values()) + len(never)
        self.figures_so_far["failed_by_kind"] = failed
        self.figures_so_far["failure_notes"] = [n for r in results for n in r["failures"]][
            :MAX_NOTES
        ]
        invalid = outcomes.get("invalid", Counter())
        self.figures_so_far["invalid"] = {
            "sent": sum(invalid.values()),
            "invalid_argument": invalid["INVALID_ARGUMENT"],
        }
        self.figures_so_far["orders"] = {
            "deferred_unavailable": sum(o["deferred"] for o in orders),
            "accepted_on_resend": sum(o["accepted_on_resend"] for o in orders),
            "never_accepted": len(never),
            "resend_calls": dict(sum((Counter(o["resend_calls"]) for o in orders), Counter())),
        }
        per_second: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        for result in results:
            for second, (calls, failed_calls, slowest) in result["per_second"].items():
                merged = per_second[int(second)]
                merged[0] += calls
                merged[1] += failed_calls
                merged[2] = max(merged[2], slowest)
        # [second, calls, failed, slowest call ms] for each second of the load.
        self.figures_so_far["per_second"] = [
            [second, int(calls), int(failed_calls), round(slowest, 1)]
            for second, (calls, failed_calls, slowest) in sorted(per_second.items())
        ]
        self.figures_so_far["latency_ms"] = {
            "open_loop_all": percentiles([v for r in results for v in r["open_latency_ms"]]),
            **{kind: percentiles(values) for kind, values in sorted(latency.items())},
        }

    def orders_verified(self, verified: dict[str, Any]) -> None:
        self.figures_so_far["orders"] |= verified

    def server_metrics(self, samples: Samples) -> None:
        codes: Counter[str] = Counter()
        for (name, labels), value in samples.items():
            if name == "basketry_requests_total":
                codes[dict(labels)["code"]] += int(value)
        self.figures_so_far["server_metrics"] = {
            "requests_by_code": dict(codes),
            "snapshot_loads": metric_sum(samples, "basketry_snapshot_loads_total"),
            "snapshot_load_failures": metric_sum(samples, "basketry_snapshot_load_failures_total"),
            "worker_restarts": metric_sum(samples, "basketry_worker_restarts_total"),
            "redis_errors": metric_sum(samples, "basketry_redis_errors_total"),
        }

    def server_stopped(self, exit_code: int, log_text: str) -> None:
        tracebacks = [
            m.start() for m in re.finditer(r"Traceback \(most recent call last\)", log_text)
        ]
        first = log_text[max(0, tracebacks[0] - 300) : tracebacks[0] + 1500] if tracebacks else ""
        self.figures_so_far["server"] = {
            "exit_code": exit_code,
            "tracebacks_in_log": len(tracebacks),
            "first_traceback": first,
        }

    # The result.
    def figures(self, plan: Plan, work: Path) -> dict[str, Any]:
        figures = dict(self.figures_so_far)
        figures["plan"] = {
            "seconds": plan.seconds,
            "swaps": plan.swaps,
            "variants": plan.variants,
            "deadline_s": plan.deadline,
            "redis_outage_s": plan.redis_outage,
        }
        figures["machine"] = {"cpus": os.cpu_count(), "note": CPU_NOTE.format(cpus=os.cpu_count())}
        figures["swaps"] = {
            "planned": plan.swaps,
            "served_by_every_worker": sum(s["served_after_s"] is not None for s in self.swaps),
            "versions": self.swaps,
        }
        figures["rss"] = self.rss_figures()
        figures["connections_per_worker"] = self.connection_counts
        figures["events"] = self.events
        figures["work_dir"] = str(work)
        figures["versions_seen_serving"] = sorted(self.serving_seen)
        figures["failed_events"] = self.failed_events
        figures["checks"] = checks(figures)
        figures["ok"] = all(check["ok"] for check in figures["checks"].values())
        return figures

    def rss_figures(self) -> list[dict[str, Any]]:
        """One row per process sampled; growth for those sampled at baseline and at the end."""
        rows = []
        pids = dict.fromkeys([*self.rss["initial"], *self.rss["baseline"], *self.rss["final"]])
        for pid in pids:
            samples = {
                stage: self.rss[stage].get(pid) for stage in ("initial", "baseline", "final")
            }
            before, after = samples["baseline"], samples["final"]
            role = next(s["role"] for s in samples.values() if s is not None)
            row: dict[str, Any] = {"pid": pid, "role": role} | {
                f"{stage}_kib": sample for stage, sample in samples.items()
            }
            if before is not None and after is not None:
                row["growth_pct"] = round(100 * (after["VmRSS"] / before["VmRSS"] - 1), 2)
            elif after is None:
                row["not_measured"] = "exited before the end (the worker sent SIGTERM)"
            else:
                row["not_measured"] = "the run ended before its warm-up under load was over"
            rows.append(row)
        return rows


def merged_outcomes(results: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    merged: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        for kind, counts in result["outcomes"].items():
            merged[kind].update(counts)
    return merged
