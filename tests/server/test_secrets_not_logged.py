"""No secret reaches a log or --print-config: a `basketry serve --processes 2` with every
secret set (mutual TLS and its private key, API keys, a Redis ACL user's password over
rediss://) logging at DEBUG as JSON, called with good, wrong and under-privileged keys; a
client command with its key in BASKETRY_API_KEY, also at DEBUG."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme
from support.redis_server import require_redis_server
from support.redis_tls import TlsRedisServer
from support.serve_process import BASKETRY, ServeProcess
from support.synthetic import publish_synthetic_snapshot
from support.tls_files import TlsFiles, issue

from basketry.client import BasketryClient, BasketryClientError, Order, OrderLine

PASSWORD = secrets.token_urlsafe(16)
READ_KEY = secrets.token_urlsafe(32)
WRITE_KEY = secrets.token_urlsafe(32)
WRONG_KEY = READ_KEY[:-2] + "zz"
TIMEOUT = 30.0


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedisServer]:
    running = TlsRedisServer(
        require_redis_server(), tmp_path / "redis", trustme.CA(), password=PASSWORD
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def private_key_lines(files: TlsFiles) -> list[str]:
    """The base64 lines of a PEM private key: any of them in a log would leak part of it."""
    return [
        line for line in files.key.read_text().splitlines() if line and not line.startswith("-----")
    ]


def secret_values(tls: dict[str, TlsFiles]) -> dict[str, str]:
    values = {
        "redis password": PASSWORD,
        "read key": READ_KEY,
        "write key": WRITE_KEY,
        "wrong key": WRONG_KEY,
    }
    for name, files in tls.items():
        for number, line in enumerate(private_key_lines(files)):
            values[f"{name} private key line {number}"] = line
    return values


def assert_no_secret_in(text: str, secret: dict[str, str]) -> None:
    leaked = [name for name, value in secret.items() if value in text]
    assert leaked == [], f"secrets in the output: {leaked}"


def test_no_secret_in_debug_logs_or_printed_config(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    ca = trustme.CA()
    tls = {
        "server": issue(ca, tmp_path / "tls", "server"),
        "client": issue(ca, tmp_path / "tls", "client"),
    }
    redis_files = tls_redis.client_files
    tls["redis client"] = redis_files
    secret = secret_values(tls)
    snapshots = tmp_path / "snapshots"
    publish_synthetic_snapshot(snapshots)
    keys = tmp_path / "api-keys"
    keys.write_text(
        f"read sha256:{hashlib.sha256(READ_KEY.encode()).hexdigest()} mailings\n"
        f"write sha256:{hashlib.sha256(WRITE_KEY.encode()).hexdigest()} checkout\n"
    )
    arguments = [
        "--snapshot-dir", str(snapshots),
        "--port", "0", "--metrics-port", "0", "--processes", "2", "--grace", "1",
        "--tls-cert", str(tls["server"].cert),
        "--tls-key", str(tls["server"].key),
        "--tls-client-ca", str(tls["client"].ca),
        "--api-keys-file", str(keys),
        "--redis-url", tls_redis.url,
        "--redis-tls-ca", str(redis_files.ca),
        "--redis-tls-cert", str(redis_files.cert),
        "--redis-tls-key", str(redis_files.key),
        "--log-level", "debug", "--log-format", "json",
    ]  # fmt: skip
    environment = {**os.environ, "BASKETRY_REDIS_PASSWORD": PASSWORD}

    printed = subprocess.run(
        [str(BASKETRY), "serve", *arguments, "--print-config"],
        # The password in the URL as well: --print-config must hide it there too.
        env={**environment, "BASKETRY_REDIS_URL": tls_redis.url.replace("@", f":{PASSWORD}@")},
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert "# redis_password: set, not shown (env BASKETRY_REDIS_PASSWORD)" in printed.stdout
    assert_no_secret_in(printed.stdout + printed.stderr, secret)

    server = ServeProcess(arguments, environment)
    try:
        target = server.target()
        client_files = tls["client"]

        def connect(api_key: str) -> BasketryClient:
            return BasketryClient(
                target,
                timeout=TIMEOUT,
                retries=0,
                tls_ca_file=tls["server"].ca,
                tls_cert_file=client_files.cert,
                tls_key_file=client_files.key,
                api_key=api_key,
            )

        order = Order("s1", "c0000", [OrderLine("i001", 1.0)])
        with connect(WRITE_KEY) as client:
            assert client.record_orders([order]).accepted == 1
        with connect(READ_KEY) as client:
            assert len(client.recommend("c0000", limit=2).items) == 2
            with pytest.raises(BasketryClientError) as denied:
                client.record_orders([order])
            assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
        with connect(WRONG_KEY) as client, pytest.raises(BasketryClientError) as refused:
            client.model_info()
            assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        asked = subprocess.run(
            [
                str(BASKETRY), "recommend", "--customer", "c0000",
                "--target", target,
                "--tls-ca", str(tls["server"].ca),
                "--tls-cert", str(client_files.cert),
                "--tls-key", str(client_files.key),
                "--log-level", "debug", "--log-format", "json",
            ],
            env={**os.environ, "BASKETRY_API_KEY": READ_KEY},
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        assert_no_secret_in(asked.stdout + asked.stderr, secret)
    finally:
        code = server.stop()
    log = server.log
    assert code == 0, log
    # The log did cover what the secrets were used for.
    for expected in ("RecordOrders by API key 'checkout' (role write)", "refused a ", "mutual TLS"):
        assert expected in log, expected
    assert_no_secret_in(log, secret)
