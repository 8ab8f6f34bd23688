"""The client library and the client commands against a server with mutual TLS and API keys:
CA, client certificate and key from files, the key sent on every call (batch streams too),
from BASKETRY_API_KEY, --api-key-file or `basketry record`'s config file; never from a flag."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot
from support.tls_files import TlsFiles, issue

from basketry.cli.main import main
from basketry.client import BasketryClient, BasketryClientError, Order, OrderLine, Unavailable

READ_KEY = secrets.token_urlsafe(32)
WRITE_KEY = secrets.token_urlsafe(32)
Capture = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("tls")
    return {"server": issue(ca, directory, "server"), "client": issue(ca, directory, "client")}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, tls: dict[str, TlsFiles]
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("secured")
    publish_synthetic_snapshot(directory / "snapshots")
    keys = directory / "api-keys"
    keys.write_text(
        "".join(
            f"{role} sha256:{hashlib.sha256(key.encode()).hexdigest()} {role}-client\n"
            for role, key in (("read", READ_KEY), ("write", WRITE_KEY))
        )
    )
    server = tls["server"]
    with running_server(
        directory / "snapshots",
        tls_cert_file=server.cert,
        tls_key_file=server.key,
        tls_client_ca_file=tls["client"].ca,
        api_keys_file=keys,
    ) as running:
        yield running


def client_for(
    running: RunningServer, tls: dict[str, TlsFiles], api_key: str | None
) -> BasketryClient:
    files = tls["client"]
    return BasketryClient(
        running.target,
        timeout=10.0,
        retries=0,
        tls_ca_file=tls["server"].ca,
        tls_cert_file=files.cert,
        tls_key_file=files.key,
        api_key=api_key,
    )


def test_the_client_sends_its_key_on_every_call_batches_included(
    secured: RunningServer, tls: dict[str, TlsFiles]
) -> None:
    with client_for(secured, tls, READ_KEY) as client:
        assert len(client.recommend("c0000", limit=3).items) == 3
        batch = list(client.recommend_batch(["c0000", "c0001", "c0002"], limit=2))
        assert [answer.customer_id for answer in batch] == ["c0000", "c0001", "c0002"]
        with pytest.raises(BasketryClientError) as denied:
            client.record_orders([Order("r1", "c0000", [OrderLine("i001", 1.0)])])
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    with client_for(secured, tls, WRITE_KEY) as client:
        order = Order("w1", "c0000", [OrderLine("i001", 1.0)])
        assert client.record_orders([order]).accepted == 1
    with client_for(secured, tls, None) as client:
        with pytest.raises(BasketryClientError) as unauthenticated:
            client.model_info()
        assert unauthenticated.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(BasketryClientError) as unauthenticated:
            list(client.recommend_batch(["c0000"]))
        assert unauthenticated.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_without_the_client_certificate_the_server_is_unreachable(
    secured: RunningServer, tls: dict[str, TlsFiles]
) -> None:
    with (
        BasketryClient(
            secured.target, timeout=10.0, retries=0, tls_ca_file=tls["server"].ca, api_key=READ_KEY
        ) as client,
        pytest.raises(Unavailable),
    ):
        client.model_info()


def test_bad_client_settings_are_clear_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a client certificate and its key go together"):
        BasketryClient("h:1", tls_cert_file=tmp_path / "c.pem")
    with pytest.raises(ValueError, match=r"cannot read tls_ca_file .*absent\.pem: No such file"):
        BasketryClient("h:1", tls_ca_file=tmp_path / "absent.pem")
    with pytest.raises(ValueError, match="either credentials or TLS files"):
        BasketryClient(
            "h:1", credentials=grpc.ssl_channel_credentials(), tls_ca_file=tmp_path / "ca.pem"
        )
    with pytest.raises(ValueError, match="either as api_key or in metadata") as twice:
        BasketryClient("h:1", api_key=READ_KEY, metadata=[("authorization", "Bearer x")])
    with pytest.raises(ValueError, match="printable ASCII") as broken:
        BasketryClient("h:1", api_key=f"{READ_KEY}\n{WRITE_KEY}")
    for error in (twice.value, broken.value):
        assert READ_KEY not in str(error) and WRITE_KEY not in str(error)


def tls_flags(running: RunningServer, tls: dict[str, TlsFiles]) -> list[str]:
    files = tls["client"]
    return [
        "--target", running.target,
        "--tls-ca", str(tls["server"].ca),
        "--tls-cert", str(files.cert),
        "--tls-key", str(files.key),
    ]  # fmt: skip


def test_client_commands_take_the_key_from_the_environment_or_a_file(
    secured: RunningServer,
    tls: dict[str, TlsFiles],
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags = tls_flags(secured, tls)
    monkeypatch.setenv("BASKETRY_API_KEY", READ_KEY)
    assert main(["recommend", *flags, "--customer", "c0000", "--limit", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 2
    monkeypatch.delenv("BASKETRY_API_KEY")
    assert main(["model-info", *flags]) == 1
    err = capsys.readouterr().err
    assert "UNAUTHENTICATED" in err and "BASKETRY_API_KEY or --api-key-file" in err
    key_file = tmp_path / "key"
    key_file.write_text(READ_KEY + "\n")
    customers = tmp_path / "customers.txt"
    customers.write_text("c0000\nc0001\n")
    out = tmp_path / "picks.csv"
    argv = ["picks", *flags, "--api-key-file", str(key_file), "--customers", str(customers)]
    assert main([*argv, "--out", str(out), "--limit", "2"]) == 0, capsys.readouterr().err
    assert out.read_text().count("c0001") == 2  # two picks each, streamed with the key
    # No flag takes the key itself (process lists show flags): `--api-key` is refused (not
    # taken for an abbreviated --api-key-file), and the key is not repeated. Keys starting
    # with "-" included (token_urlsafe makes them).
    for key in (READ_KEY, "-" + READ_KEY):
        with pytest.raises(SystemExit) as refused:
            main(["recommend", *flags, "--api-key", key, "--customer", "c0000"])
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert "there is no --api-key flag" in err and READ_KEY not in err


def test_record_takes_the_key_from_its_config_file_and_tls_from_the_environment(
    secured: RunningServer,
    tls: dict[str, TlsFiles],
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,item_id,quantity,timestamp\n"
        "b1,c0000,i001,1,2024-01-01 10:00:00\n"
        "b2,c0001,i002,2,2024-01-02 10:00:00\n"
    )
    config = tmp_path / "basketry.toml"
    config.write_text(f'[record]\napi_key = "{WRITE_KEY}"\ntls_ca = "{tls["server"].ca}"\n')
    monkeypatch.setenv("BASKETRY_TLS_CERT", str(tls["client"].cert))
    monkeypatch.setenv("BASKETRY_TLS_KEY", str(tls["client"].key))
    argv = ["record", "--orders", str(orders), "--target", secured.target, "--json"]
    assert main([*argv, "--config", str(config)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["accepted"] == 2
    assert main([*argv, "--config", str(config), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "# api_key: set, not shown" in printed and WRITE_KEY not in printed
