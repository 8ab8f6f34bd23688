"""deploy/prometheus: promtool accepts the rules and the config, the rule unit tests pass and
cover every alert both ways, and every alert is documented with a runbook in the README."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from .deploy_files import (
    PROMETHEUS_CONFIG,
    REPO,
    RULES,
    RULES_TESTS,
    load_yaml,
    recorded_names,
    require_binary,
    rules,
)

SEVERITIES = {"critical", "warning"}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    result = _promtool("check", "rules", str(RULES), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass(tmp_path: Path) -> None:
    result = _promtool("test", "rules", str(RULES_TESTS), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_config(tmp_path: Path) -> None:
    result = _promtool("check", "config", str(PROMETHEUS_CONFIG), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_every_alert_has_a_severity_summary_description_and_its_runbook() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 9
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"README.md#{name.lower()}", name


def test_every_runbook_anchor_is_a_readme_heading() -> None:
    headings = {
        _github_anchor(line.lstrip("#"))
        for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    anchors = {rule["annotations"]["runbook_url"].split("#", 1)[1] for rule in _alerts()}
    assert anchors <= headings, f"no README heading for {sorted(anchors - headings)}"


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [
        case for test in load_yaml(RULES_TESTS)["tests"] for case in test.get("alert_rule_test", [])
    ]
    for alert in _alerts():
        name = alert["alert"]
        outcomes = [bool(case["exp_alerts"]) for case in cases if case["alertname"] == name]
        assert True in outcomes, f"{name}: no test where it fires"
        assert False in outcomes, f"{name}: no test where it stays quiet"


def test_every_recording_rule_is_tested_or_feeds_an_alert() -> None:
    tested = " ".join(
        case["expr"]
        for test in load_yaml(RULES_TESTS)["tests"]
        for case in test.get("promql_expr_test", [])
    )
    alert_exprs = " ".join(rule["expr"] for rule in _alerts())
    for rule in rules():
        if "record" in rule:
            name = rule["record"]
            assert name in tested or name in alert_exprs, f"{name} is never checked"


def test_alerts_use_only_recorded_names_that_are_defined() -> None:
    defined = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        assert recorded_names(rule["expr"]) <= defined, rule.get("alert") or rule.get("record")


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")
