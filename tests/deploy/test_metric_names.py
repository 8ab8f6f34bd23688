"""Every metric the dashboard and the rules refer to is exported: by a freshly started real
server (before any request) or by the training job's metrics files."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from support.redis_server import RedisServer
from support.servers import running_server

from basketry.cli.main import main

from .deploy_files import (
    alert_queries,
    dashboard_queries,
    exported_names,
    metric_names,
    recording_queries,
)
from .training_run import TrainingRun


def test_dashboard_and_rules_refer_only_to_exported_metrics(
    training_run: TrainingRun, redis_server: RedisServer, tmp_path: Path
) -> None:
    queries = dashboard_queries() + recording_queries() + alert_queries()
    referenced = {name: query.where for query in queries for name in metric_names(query.expr)}
    assert len(referenced) >= 40  # the parser finds them

    # With Redis, so the circuit breakers and the announcement subscription exist.
    with (
        running_server(
            training_run.snapshot_dir, metrics_port=0, redis_url=redis_server.url
        ) as server,
        urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics") as page,
    ):
        server_names = exported_names(page.read().decode())

    training_names = exported_names(training_run.training_metrics.read_text())
    training_names |= exported_names(training_run.evaluation_metrics.read_text())
    # A failed run adds its failure time to the file, keeping the last success.
    after_failure = tmp_path / "basketry_training.prom"
    shutil.copy(training_run.training_metrics, after_failure)
    failing = ["train", "--orders", str(tmp_path / "missing.csv"), "--snapshot-dir"]
    assert main([*failing, str(tmp_path / "s"), "--metrics-file", str(after_failure)]) != 0
    training_names |= exported_names(after_failure.read_text())

    missing = {
        name: where
        for name, where in referenced.items()
        if name not in server_names | training_names
    }
    assert not missing, f"not exported (name: first use): {missing}"
    assert any(name.startswith("basketry_training_") for name in referenced)
    assert any(name.startswith("basketry_evaluation_") for name in referenced)


def test_metric_names_are_parsed_out_of_promql() -> None:
    expr = (
        'sum by (reason) (rate(basketry_fallbacks_total{job=~"$job",reason="x_y"}[1m]))'
        " / ignoring (reason) group_left job:basketry_cache_hits:ratio_rate5m"
        ' + on () basketry_evaluation_score{strategy="basketry balanced"}'
        " * process_cpu_seconds_total"
    )
    assert metric_names(expr) == {
        "basketry_fallbacks_total",
        "basketry_evaluation_score",
        "process_cpu_seconds_total",
    }
