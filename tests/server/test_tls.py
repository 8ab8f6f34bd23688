"""TLS and mutual TLS on the gRPC port: real servers on loopback, certificates from trustme.
A client that does not trust the server's CA, or (mutual TLS) presents no certificate or one
of another CA, never gets past the handshake; health answers over TLS as well."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry
from support.servers import running_server
from support.tls_files import TlsFiles, issue

from basketry.cli.main import main
from basketry.server.security import ServerSecurity
from basketry.server.settings import ServerSettings
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    """The server's and a client's certificates of `ca`, and a stranger's of another CA."""
    directory = tmp_path_factory.mktemp("tls")
    return {
        "server": issue(ca, directory, "server"),
        "client": issue(ca, directory, "client"),
        "stranger": issue(trustme.CA(), directory, "stranger"),
    }


def credentials(trusted_ca: Path, client: TlsFiles | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=trusted_ca.read_bytes(),
        private_key=None if client is None else client.key.read_bytes(),
        certificate_chain=None if client is None else client.cert.read_bytes(),
    )


def recommend(channel: grpc.Channel) -> pb.RecommendResponse:
    stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
    response: pb.RecommendResponse = stub.Recommend(
        pb.RecommendRequest(customer_id="c0000", limit=3), timeout=TIMEOUT
    )
    return response


def health(channel: grpc.Channel) -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=TIMEOUT
    )
    return int(reply.status)


def refused(call: grpc.Channel) -> grpc.StatusCode:
    """The code a Recommend call on `call` fails with (it must fail)."""
    with pytest.raises(grpc.RpcError) as failure:
        recommend(call)
    code: grpc.StatusCode = failure.value.code()
    return code


def test_tls_answers_a_client_that_trusts_its_ca_and_no_other(
    snapshot_dir: Path, files: dict[str, TlsFiles]
) -> None:
    server = files["server"]
    with running_server(
        snapshot_dir, tls_cert_file=server.cert, tls_key_file=server.key
    ) as running:
        with grpc.secure_channel(running.target, credentials(server.ca)) as channel:
            assert len(recommend(channel).items) == 3
            assert health(channel) == health_pb2.HealthCheckResponse.SERVING
        with grpc.secure_channel(running.target, credentials(files["stranger"].ca)) as channel:
            assert refused(channel) == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(running.target) as channel:
            assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate_of_the_client_ca(
    snapshot_dir: Path, files: dict[str, TlsFiles]
) -> None:
    server, client = files["server"], files["client"]
    with running_server(
        snapshot_dir,
        tls_cert_file=server.cert,
        tls_key_file=server.key,
        tls_client_ca_file=client.ca,
    ) as running:
        with grpc.secure_channel(running.target, credentials(server.ca, client)) as channel:
            assert len(recommend(channel).items) == 3
            assert health(channel) == health_pb2.HealthCheckResponse.SERVING
        # No certificate, or one another CA signed: the handshake fails, no RPC runs.
        for presented in (None, files["stranger"]):
            with grpc.secure_channel(running.target, credentials(server.ca, presented)) as channel:
                assert refused(channel) == grpc.StatusCode.UNAVAILABLE
        # Only the first call reached the server.
        registry = running.server.metrics.registry
        assert _requests(registry, "OK") == 1
        assert _requests(registry, "UNAVAILABLE") == 0


def _requests(registry: CollectorRegistry, code: str) -> float:
    value = registry.get_sample_value(
        "basketry_requests_total", {"method": "Recommend", "code": code}
    )
    return 0.0 if value is None else value


def encrypted_key(files: TlsFiles, directory: Path) -> Path:
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    path = directory / "encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cert without key", "tls_cert_file and tls_key_file go together"),
        ("client CA without cert", "tls_client_ca_file (mutual TLS) needs tls_cert_file"),
        ("missing cert", "cannot read tls_cert_file {missing}: No such file or directory"),
        ("not PEM", "tls_cert_file {junk} is not a PEM file"),
        ("another key", "tls_key_file {stranger_key} is not the key of the certificate"),
        ("encrypted key", "tls_key_file {encrypted} is encrypted"),
        ("client CA not PEM", "tls_client_ca_file {junk} is not a PEM file"),
    ],
)
def test_bad_tls_settings_and_files_are_refused_naming_the_file(
    case: str, message: str, files: dict[str, TlsFiles], tmp_path: Path
) -> None:
    server = files["server"]
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    paths = {
        "missing": tmp_path / "missing.pem",
        "junk": junk,
        "stranger_key": files["stranger"].key,
        "encrypted": encrypted_key(server, tmp_path),
    }
    settings: dict[str, Any] = {
        "cert without key": {"tls_cert_file": server.cert},
        "client CA without cert": {"tls_client_ca_file": server.ca},
        "missing cert": {"tls_cert_file": paths["missing"], "tls_key_file": server.key},
        "not PEM": {"tls_cert_file": junk, "tls_key_file": server.key},
        "another key": {"tls_cert_file": server.cert, "tls_key_file": paths["stranger_key"]},
        "encrypted key": {"tls_cert_file": server.cert, "tls_key_file": paths["encrypted"]},
        "client CA not PEM": {
            "tls_cert_file": server.cert,
            "tls_key_file": server.key,
            "tls_client_ca_file": junk,
        },
    }[case]
    with pytest.raises(ValueError) as refusal:
        ServerSecurity.load(ServerSettings(snapshot_dir=tmp_path, **settings))
    assert message.format(**paths) in str(refusal.value)


def test_serve_refuses_a_bad_tls_file_in_one_line_with_exit_code_2(
    files: dict[str, TlsFiles], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = files["server"]
    code = main(
        [
            "serve",
            "--snapshot-dir", str(tmp_path),
            "--tls-cert", str(server.cert),
            "--tls-key", str(files["stranger"].key),
            "--print-config",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "is not the key of the certificate" in err
