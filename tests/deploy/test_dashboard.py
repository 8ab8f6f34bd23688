"""deploy/grafana: the dashboard is well-formed Grafana JSON whose every panel queries
Prometheus through the data source variable, and the provisioning files point at it."""

from __future__ import annotations

import re

from .deploy_files import (
    COMPOSE,
    DASHBOARD,
    DEPLOY,
    dashboard,
    dashboard_queries,
    load_yaml,
    panels,
)

GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range"}
WANTED_TOPICS = [
    "basketry_requests_total",
    "basketry_request_duration_seconds_bucket",
    "basketry_snapshot_info",
    "basketry_snapshot_age_seconds",
    "basketry_snapshot_load_failures_total",
    "basketry_fallbacks_total",
    "basketry_cache_requests_total",
    "basketry_response_items",
    "basketry_redis_circuit_state",
    "basketry_redis_errors_total",
    "basketry_recorded_orders_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "basketry_evaluation_score",
    "basketry_training_duration_seconds",
    "basketry_training_rows_read",
]


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    assert board["uid"] == "basketry" and board["title"]
    nested = [inner for panel in board["panels"] for inner in panel.get("panels", [])]
    ids = [panel["id"] for panel in board["panels"] + nested]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_has_a_prometheus_target_through_the_datasource_variable() -> None:
    assert len(panels()) >= 20
    for panel in panels():
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], f"{title}: no target"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{title}: empty query"
            assert target["datasource"] == panel["datasource"], title
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"{title}: repeated refId"


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_variable_used_is_defined() -> None:
    variables = {variable["name"] for variable in dashboard()["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    for query in dashboard_queries():
        used = set(re.findall(r"\$\{?(\w+)", query.expr))
        assert used <= variables | GRAFANA_VARIABLES, query.where


def test_dashboard_covers_what_an_sre_watches() -> None:
    text = " ".join(query.expr for query in dashboard_queries())
    for name in WANTED_TOPICS:
        assert name in text, f"no panel shows {name}"
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (method, le)" in text


def test_provisioning_matches_the_dashboard_and_the_compose_mounts() -> None:
    (source,) = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    prometheus_port = load_yaml(COMPOSE)["services"]["prometheus"]["ports"][0].split(":")[1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"

    (provider,) = load_yaml(DEPLOY / "grafana/provisioning/dashboards/basketry.yml")["providers"]
    grafana_mounts = dict(
        volume.removesuffix(":ro").split(":", 1)
        for volume in load_yaml(COMPOSE)["services"]["grafana"]["volumes"]
    )
    host_dir = (DEPLOY / _key_for(grafana_mounts, provider["options"]["path"])).resolve()
    assert host_dir == DASHBOARD.parent
    assert (DEPLOY / _key_for(grafana_mounts, "/etc/grafana/provisioning")).resolve() == (
        DEPLOY / "grafana/provisioning"
    )


def _key_for(mounts: dict[str, str], container_path: str) -> str:
    (host,) = [host for host, inside in mounts.items() if inside == container_path]
    return host
