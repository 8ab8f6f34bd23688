"""deploy/ as the tests read it: the dashboard's queries, the rules' expressions, the metric
names a PromQL expression refers to and the names a /metrics page exports; and the Debian
binaries (promtool, prometheus, prometheus-node-exporter) the tests run."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TESTS = DEPLOY / "prometheus" / "rules.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "basketry.json"
COMPOSE = DEPLOY / "docker-compose.yml"

# A raw metric name: not part of a recording-rule name (level:metric:operations), which the
# lookbehind leaves out because of its colon.
_METRIC_NAME = re.compile(r"(?<![\w:])((?:basketry|process)_\w+)")
_RECORDED_NAME = re.compile(r"(?<![\w:])(\w+:\w+:\w+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class Query:
    where: str  # which panel target or rule, for messages
    expr: str
    instant: bool = False  # Grafana asks for the value now, not a range (stat, table)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel that shows data (rows left out, panels inside collapsed rows included)."""
    found = []
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def dashboard_queries() -> list[Query]:
    return [
        Query(
            f"panel {panel['title']!r} target {target['refId']}",
            target["expr"],
            bool(target.get("instant")),
        )
        for panel in panels()
        for target in panel.get("targets", [])
    ]


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def recording_queries() -> list[Query]:
    return [
        Query(f"record {rule['record']}", rule["expr"], instant=True)
        for rule in rules()
        if "record" in rule
    ]


def alert_queries() -> list[Query]:
    return [Query(f"alert {rule['alert']}", rule["expr"]) for rule in rules() if "alert" in rule]


def metric_names(expr: str) -> set[str]:
    """The basketry_* / process_* series names `expr` selects (label values ignored)."""
    return set(_METRIC_NAME.findall(_STRING.sub('""', expr)))


def recorded_names(expr: str) -> set[str]:
    """The recording-rule names (level:metric:operations) `expr` selects."""
    return set(_RECORDED_NAME.findall(_STRING.sub('""', expr)))


def exported_names(exposition: str) -> set[str]:
    """Names of the series a /metrics page (or textfile) holds samples of.

    A family declared without any sample (a labelled metric no label value was set for yet)
    is not counted: a panel or rule on it would show no data.
    """
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def require_binary(name: str, package: str) -> str:
    """The binary's path; skips the test without it, fails it in CI (CI=true)."""
    binary = shutil.which(name)
    if binary is None:
        reason = f"{name} not on PATH (Debian: apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the deploy tests")
        pytest.skip(reason)
    return binary
