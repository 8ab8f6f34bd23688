"""The series of a training run and an offline evaluation, for the metrics textfile."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from basketry.training.cleaning import DROP_REASONS
from basketry.training.metrics_file import Gauge
from basketry.training.pipeline import TrainingReport


def training_success(report: TrainingReport, *, now: float | None = None) -> list[Gauge]:
    """The series of a training run that published `report.version_dir`."""
    cleaned, counts = report.clean, report.counts
    durations = [({"stage": stage}, seconds) for stage, seconds in report.seconds.items()]
    return [
        Gauge(
            "basketry_training_last_success_timestamp_seconds",
            "Unix time the last training run published its snapshot.",
            [({}, _now(now))],
        ),
        Gauge(
            "basketry_training_duration_seconds",
            "Seconds each stage of the last successful training run took; stage=total is "
            "the whole run.",
            [*durations, ({"stage": "total"}, report.total_seconds)],
        ),
        Gauge(
            "basketry_training_rows_read",
            "Order lines the last successful training run read.",
            [({}, cleaned.rows_read)],
        ),
        Gauge(
            "basketry_training_rows_dropped",
            "Order lines the last successful training run dropped, by reason (the bad-row "
            "reasons count malformed rows left out under --on-bad-rows skip).",
            [({"reason": reason}, cleaned.dropped[reason]) for reason in DROP_REASONS],
        ),
        _count("customers", "Customers", counts["customers"]),
        _count("items", "Items", counts["items"]),
        _count("orders", "Orders (after cleaning)", counts["orders_total"]),
        _count("rules", "Bought-together partner entries", counts["rules"]),
        Gauge(
            "basketry_training_snapshot_bytes",
            "Bytes of the snapshot version the last successful training run published.",
            [({}, report.snapshot_bytes)],
        ),
        Gauge(
            "basketry_training_info",
            "1 for the snapshot version the last successful training run published.",
            [({"version": report.version_dir.name}, 1.0)],
        ),
    ]


def training_failure(*, now: float | None = None) -> list[Gauge]:
    """The series of a training run that failed: only its time (the last success stays)."""
    return [
        Gauge(
            "basketry_training_last_failure_timestamp_seconds",
            "Unix time a training run last failed (published nothing).",
            [({}, _now(now))],
        )
    ]


def evaluation_scores(
    result: Mapping[str, Any], protocol: str, *, now: float | None = None
) -> list[Gauge]:
    """The scores of one `basketry evaluate` result, for every method, metric and k.

    Ranking metrics keep their names (recall, ndcg, phr, ...); the bundle and look-alike
    tables' metrics are prefixed "bundle_" and "lookalike_" (they score other questions).
    """
    rows = [(m["method"], "", m["metrics"]) for m in result["methods"]]
    for section, prefix in (("bundles", "bundle_"), ("lookalike", "lookalike_")):
        for row in result.get(section, {}).get("table", []):
            rows.append((row["method"], prefix, row))
    scores = [
        ({"protocol": protocol, "strategy": method, "metric": prefix + name, "k": k}, value)
        for method, prefix, metrics in rows
        for name, k, value in _at_k(metrics)
    ]
    return [
        Gauge(
            "basketry_evaluation_score",
            "Score of a recommender strategy or baseline in the last offline evaluation "
            "(metric at k, on held-out orders).",
            scores,
        ),
        Gauge(
            "basketry_evaluation_last_run_timestamp_seconds",
            "Unix time the last offline evaluation of this protocol finished.",
            [({"protocol": protocol}, _now(now))],
        ),
    ]


def _count(name: str, what: str, value: int) -> Gauge:
    return Gauge(
        f"basketry_training_{name}",
        f"{what} in the snapshot the last successful training run published.",
        [({}, value)],
    )


def _at_k(metrics: Mapping[str, object]) -> Iterable[tuple[str, str, float]]:
    """(name, k, value) for every numeric "name@k" entry."""
    for key, value in metrics.items():
        name, at, k = key.partition("@")
        if at and k.isdigit() and isinstance(value, int | float) and not isinstance(value, bool):
            yield name, k, float(value)


def _now(now: float | None) -> float:
    return time.time() if now is None else now
