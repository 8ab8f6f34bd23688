"""deploy/docker-compose.yml, checked without a container engine: the files it mounts exist,
its Basketry commands are valid `basketry` command lines (run with --print-config in the
service's environment), and its services, volumes and ports agree with prometheus.yml."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from basketry.cli.main import main

from .deploy_files import COMPOSE, DEPLOY, PROMETHEUS_CONFIG, REPO, load_yaml

BASKETRY_SERVICES = ("train", "server")


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_yaml(COMPOSE)["services"]
    return found


def mounts(service: str) -> dict[str, str]:
    """Container path -> host path (bind mounts, relative to deploy/) or volume name."""
    found = {}
    for volume in services()[service].get("volumes", []):
        source, target = volume.removesuffix(":ro").split(":", 1)
        found[target] = source
    return found


def effective_config(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """The service's command as `basketry` resolves it in the service's environment."""
    for name in list(os.environ):
        if name.startswith("BASKETRY_"):
            monkeypatch.delenv(name)
    for name, value in services()[service].get("environment", {}).items():
        monkeypatch.setenv(name, str(value))
    command = [str(word) for word in services()[service]["command"]]
    capsys.readouterr()
    assert main([*command, "--print-config"]) == 0, capsys.readouterr().err
    table: dict[str, Any] = tomllib.loads(capsys.readouterr().out)[command[0]]
    return table


def test_bind_mounts_exist_and_named_volumes_are_declared() -> None:
    declared = set(load_yaml(COMPOSE)["volumes"])
    used = set()
    for service in services():
        for source in mounts(service).values():
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{service} mounts missing {source}"
            else:
                used.add(source)
    assert used == declared


def test_basketry_services_build_the_repository_image() -> None:
    for name in BASKETRY_SERVICES:
        build = services()[name]["build"]
        assert (DEPLOY / build["context"]).resolve() == REPO
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"
        assert services()[name]["image"] == services()["train"]["image"]


def test_training_job_reads_the_bundled_data_and_writes_where_others_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = effective_config("train", monkeypatch, capsys)
    train_mounts = mounts("train")
    (orders,) = config["orders"]
    assert (DEPLOY / train_mounts[orders]).resolve() == REPO / "examples/data/online_retail.csv.gz"
    assert config["preset"] == "online-retail"
    assert train_mounts[config["snapshot_dir"]] == mounts("server")["/snapshots"]
    metrics_dir = str(PurePosixPath(config["metrics_file"]).parent)
    assert config["metrics_file"].endswith(".prom")  # node-exporter reads only *.prom
    exporter_args = services()["node-exporter"]["command"]
    (textfile_dir,) = [
        arg.split("=", 1)[1] for arg in exporter_args if arg.startswith("--collector.textfile.")
    ]
    assert train_mounts[metrics_dir] == mounts("node-exporter")[textfile_dir]
    assert config["redis_url"] == "redis://redis:6379/0"


def test_server_serves_the_trained_snapshots_with_redis_after_training(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = effective_config("server", monkeypatch, capsys)
    server = services()["server"]
    assert mounts("server")[config["snapshot_dir"]] == mounts("train")["/snapshots"]
    assert config["host"] == "0.0.0.0"
    assert f"{config['port']}:{config['port']}" in server["ports"]
    assert config["redis_url"] == "redis://redis:6379/0"
    assert server["depends_on"]["train"]["condition"] == "service_completed_successfully"
    assert server["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "redis" in services()


def test_prometheus_scrapes_the_server_and_node_exporter_on_their_ports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = effective_config("server", monkeypatch, capsys)
    exporter_args = services()["node-exporter"]["command"]
    (listen,) = [arg.split("=", 1)[1] for arg in exporter_args if arg.startswith("--web.listen")]
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
    }
    assert targets == {
        "basketry": [f"server:{config['metrics_port']}"],
        "node-exporter": [f"node-exporter{listen}"],
    }
    prometheus_mounts = mounts("prometheus")
    config_in_container = PurePosixPath("/etc/prometheus/prometheus.yml")
    assert (DEPLOY / prometheus_mounts[str(config_in_container)]).resolve() == PROMETHEUS_CONFIG
    for rule_file in load_yaml(PROMETHEUS_CONFIG)["rule_files"]:
        inside = config_in_container.parent / rule_file  # relative to the config file
        host = DEPLOY / prometheus_mounts[str(inside)]
        assert host.resolve() == (PROMETHEUS_CONFIG.parent / rule_file).resolve()
    assert "--config.file=/etc/prometheus/prometheus.yml" in services()["prometheus"]["command"]


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_no_path_escapes_the_repository() -> None:
    for service in services():
        for source in mounts(service).values():
            if source.startswith("."):
                assert Path(DEPLOY / source).resolve().is_relative_to(REPO), source


def test_redis_acknowledges_only_what_it_has_fsynced() -> None:
    """RecordOrders' 'accepted means kept' needs Redis to fsync every write before replying."""
    command = services()["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "always"
