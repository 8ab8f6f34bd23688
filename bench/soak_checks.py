"""The soak test's guarantees, checked on its figures, and the table it prints."""

from __future__ import annotations

from typing import Any

MAX_RSS_GROWTH = 0.10


def checks(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def check(ok: bool, detail: Any) -> dict[str, Any]:
        return {"ok": bool(ok), "detail": detail}

    orders = figures.get("orders", {})
    corrupt = figures.get("corrupt", {})
    restart = figures.get("worker_restart", {})
    measured = [row for row in figures["rss"] if "growth_pct" in row]
    growth = {row["pid"]: row["growth_pct"] for row in measured}
    server = figures.get("server", {})
    return {
        "no_failed_requests": check(figures.get("failed") == 0, figures.get("failed_by_kind")),
        "invalid_requests_refused": check(
            figures["invalid"]["sent"] > 0
            and figures["invalid"]["sent"] == figures["invalid"]["invalid_argument"],
            figures["invalid"],
        ),
        "no_accepted_order_lost": check(
            orders.get("accepted", 0) > 0
            and orders.get("lost") == 0
            and orders.get("not_held") == 0
            and orders.get("never_accepted") == 0,
            {k: orders.get(k) for k in ("accepted", "lost", "not_held", "never_accepted")},
        ),
        "rss_growth_under_10pct": check(
            len(measured) >= 2 and all(g < 100 * MAX_RSS_GROWTH for g in growth.values()),
            growth,
        ),
        "every_swap_served": check(
            figures["swaps"]["served_by_every_worker"] == figures["swaps"]["planned"],
            figures["swaps"]["served_by_every_worker"],
        ),
        "corrupt_version_refused": check(
            corrupt.get("refusals", 0) >= 1
            and corrupt.get("version") not in figures["versions_seen_serving"]
            and corrupt.get("serving_after") == corrupt.get("serving_before"),
            {k: corrupt.get(k) for k in ("refusals", "serving_before", "serving_after")},
        ),
        "redis_restarted": check(
            figures.get("redis", {}).get("outage_s", 0) > 0, figures.get("redis")
        ),
        "worker_replaced": check(
            restart.get("restarts", 0) >= 1 and restart.get("new_pid") is not None, restart
        ),
        "capacity_phase_without_errors": check(
            figures["capacity"]["errors"] == 0, figures["capacity"]["errors"]
        ),
        "server_log_without_tracebacks": check(
            server.get("tracebacks_in_log") == 0, server.get("tracebacks_in_log")
        ),
        "server_stopped_cleanly": check(server.get("exit_code") == 0, server.get("exit_code")),
        "timeline_completed": check(not figures["failed_events"], figures["failed_events"]),
    }


def table(figures: dict[str, Any]) -> str:
    load, orders = figures["load"], figures["orders"]
    latency = figures["latency_ms"]
    rows = [
        ("capacity (8 callers, the load's mix)", f"{figures['capacity']['mix_per_second']}/s"),
        ("target / achieved rate", f"{load['target_rps']}/s / {load['achieved_rps']}/s"),
        (
            "generator lag p99 / max",
            f"{load['generator_lag_p99_ms']} / {load['generator_lag_max_ms']} ms",
        ),
        ("answered > deadline after arrival (not failed)", str(load["ok_but_late_from_arrival"])),
        ("failed requests", str(figures["failed"])),
        (
            "invalid sent / INVALID_ARGUMENT",
            f"{figures['invalid']['sent']} / {figures['invalid']['invalid_argument']}",
        ),
        (
            "orders accepted / verified / lost",
            f"{orders['accepted']} / {orders['held']} / {orders['lost']}",
        ),
        (
            "orders deferred (Redis down) / accepted on re-send",
            f"{orders['deferred_unavailable']} / {orders['accepted_on_resend']}",
        ),
        (
            "swaps served by every worker",
            f"{figures['swaps']['served_by_every_worker']} of {figures['swaps']['planned']}",
        ),
        ("corrupt version refusals (metric)", str(figures.get("corrupt", {}).get("refusals"))),
        ("Redis outage", f"{figures.get('redis', {}).get('outage_s')} s"),
        ("worker restarts (metric)", str(figures.get("worker_restart", {}).get("restarts"))),
        (
            "latency p50 / p99 (arrival to answer)",
            f"{latency['open_loop_all'].get('p50')} / {latency['open_loop_all'].get('p99')} ms",
        ),
    ]
    for r in figures["rss"]:
        if "growth_pct" in r:
            before, after = r["baseline_kib"]["VmRSS"], r["final_kib"]["VmRSS"]
            value = f"{before} -> {after} KiB ({r['growth_pct']:+.1f}%)"
        else:
            value = f"not measured: {r['not_measured']}"
        rows.append((f"RSS {r['role']} {r['pid']}", value))
    rows += [
        (f"check {name}", "ok" if c["ok"] else f"FAILED {c['detail']}")
        for name, c in figures["checks"].items()
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
