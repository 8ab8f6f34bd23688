"""The training metrics files as the real prometheus-node-exporter's textfile collector
serves them: every series scraped, no textfile scrape error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_metrics_file import FAST_MODEL, Series, read_series, series_of, write_order_file

from basketry.cli.main import main

TrainRunner = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`
START_TIMEOUT = 15.0


def require_node_exporter() -> str:
    """The binary; skips the test without it, fails it in CI (CI=true)."""
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        reason = "prometheus-node-exporter not on PATH (Debian: prometheus-node-exporter)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the textfile collector test")
        pytest.skip(reason)
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def textfile_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "textfile"
    directory.mkdir()
    return directory


@pytest.fixture
def node_exporter(textfile_dir: Path) -> Iterator[str]:
    """node-exporter with only the textfile collector on `textfile_dir`; yields its URL."""
    binary = require_node_exporter()
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"node-exporter exited with {process.returncode}: {stderr}")
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node-exporter not answering on {url}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def scrape(url: str) -> Series:
    with urllib.request.urlopen(url, timeout=5) as response:
        return series_of(text_string_to_metric_families(response.read().decode("utf-8")))


def test_node_exporter_serves_every_training_and_evaluation_series(
    train: TrainRunner,
    small_orders_csv: Path,
    textfile_dir: Path,
    node_exporter: str,
    tmp_path: Path,
) -> None:
    training = textfile_dir / "basketry_training.prom"
    evaluation = textfile_dir / "basketry_evaluation.prom"
    skip = ("--on-bad-rows", "skip")  # the hand-written rows hold two bad rows
    trained = train("--orders", str(small_orders_csv), *skip, "--metrics-file", str(training))
    assert trained.code == 0, trained.stderr
    orders = write_order_file(tmp_path / "orders.csv")
    args = ["evaluate", "--orders", str(orders), "--out", str(tmp_path / "out"), "--quiet"]
    args += ["--skip-bundles", "--skip-lookalike", "--metrics-file", str(evaluation)]
    assert main([*args, *FAST_MODEL]) == 0
    # A failed run after the success: both timestamps must reach Prometheus.
    failed = train("--orders", str(tmp_path / "missing.csv"), "--metrics-file", str(training))
    assert failed.code == 2

    scraped = scrape(node_exporter)
    assert scraped[("node_textfile_scrape_error", ())] == 0.0
    for path in (training, evaluation):
        assert ("node_textfile_mtime_seconds", (("file", str(path)),)) in scraped
    written = read_series(training) | read_series(evaluation)
    assert {name for name, _ in written} >= {
        "basketry_training_last_success_timestamp_seconds",
        "basketry_training_last_failure_timestamp_seconds",
        "basketry_training_duration_seconds",
        "basketry_training_rows_read",
        "basketry_training_rows_dropped",
        "basketry_training_customers",
        "basketry_training_items",
        "basketry_training_orders",
        "basketry_training_rules",
        "basketry_training_snapshot_bytes",
        "basketry_training_info",
        "basketry_evaluation_score",
        "basketry_evaluation_last_run_timestamp_seconds",
    }
    basketry = {key: v for key, v in scraped.items() if key[0].startswith("basketry_")}
    assert basketry == written
