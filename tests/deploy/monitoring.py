"""A real Prometheus and node-exporter (the Debian binaries) on free loopback ports, and a
small client of Prometheus's HTTP API, for the tests that scrape a running server."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

START_DEADLINE = 30.0  # generous: the machine is shared


class Prometheus:
    """Prometheus's HTTP API at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> dict[str, Any]:
        """The `data` of a successful API answer; raises with Prometheus's error otherwise."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, with its message
            body = json.load(exc)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        data: dict[str, Any] = body["data"]
        return data

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant vector at now: [{"metric": {...}, "value": [ts, "v"]}, ...]."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """Range query at 1 s steps: [{"metric": {...}, "values": [[ts, "v"], ...]}, ...]."""
        data = self.get(
            "/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1"
        )
        assert data["resultType"] == "matrix", f"{expr}: {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float:
        """The single value of `expr` now; NaN when it has no result."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else math.nan


def prometheus_config(
    targets: dict[str, str], rule_files: list[Path], scrape_interval: str = "1s"
) -> str:
    """A config scraping one target per job every `scrape_interval`, evaluating the rules."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


@contextmanager
def running_prometheus(binary: str, config: str, directory: Path) -> Iterator[Prometheus]:
    """Prometheus on `config` (YAML text), its data and log in `directory`."""
    config_file = directory / "prometheus.yml"
    config_file.write_text(config, encoding="utf-8")
    port = free_port()
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    api = Prometheus(f"http://127.0.0.1:{port}")
    with _process(command, directory / "prometheus.log") as process:
        wait_until(lambda: _answers(f"{api.url}/-/ready"), "Prometheus ready", process)
        yield api


@contextmanager
def running_node_exporter(binary: str, textfile_dir: Path, directory: Path) -> Iterator[str]:
    """node-exporter with only the textfile collector on `textfile_dir`; yields host:port."""
    port = free_port()
    command = [
        binary,
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfile_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _process(command, directory / "node-exporter.log") as process:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _answers(url), "node-exporter answering", process)
        yield f"127.0.0.1:{port}"


def wait_until(
    condition: Callable[[], bool],
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    deadline: float = START_DEADLINE,
) -> None:
    """Poll `condition` every 0.2 s until true; fail after `deadline` s or if `process` exits."""
    give_up = time.monotonic() + deadline
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"waiting for {what}: exited with {process.returncode}")
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what} after {deadline:g}s")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    except BaseException as exc:
        exc.add_note(f"{Path(command[0]).name} log ({log}):\n{_tail(log)}")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # refused while starting, or 503 until ready
        return False


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
