"""Redis over TLS as an ACL user: a real redis-server with TLS only (client certificates
required), the default user off and a user limited to the basketry: keys and channels. The
server records orders and hears announcements through it, with the password from
BASKETRY_REDIS_PASSWORD; a wrong password or certificate stops the start with a clear error;
the password never appears in the log."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import trustme
from support.redis_server import require_redis_server
from support.redis_tls import TlsRedisServer
from support.serve_process import BASKETRY, ServeProcess
from support.servers import TEST_DEFAULTS
from support.synthetic import publish_synthetic_snapshot
from support.tls_files import issue

from basketry.client import BasketryClient, Order, OrderLine
from basketry.server.app import create_server
from basketry.server.settings import ServerSettings
from basketry.snapshot.redis_connection import RedisTls

PASSWORD = "acl-Pass-7f3e9c2a"
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedisServer]:
    directory = tmp_path_factory.mktemp("redis-tls")
    running = TlsRedisServer(require_redis_server(), directory, trustme.CA(), password=PASSWORD)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def tls_flags(redis: TlsRedisServer) -> list[str]:
    files = redis.client_files
    return [
        "--redis-url", redis.url,
        "--redis-tls-ca", str(files.ca),
        "--redis-tls-cert", str(files.cert),
        "--redis-tls-key", str(files.key),
    ]  # fmt: skip


def url_with_tls_options(redis: TlsRedisServer) -> str:
    """The same connection for commands without --redis-tls-* flags (train, publish):
    redis-py's own URL options."""
    files = redis.client_files
    options = {"ssl_ca_certs": files.ca, "ssl_certfile": files.cert, "ssl_keyfile": files.key}
    return f"{redis.url}?{urlencode({name: str(path) for name, path in options.items()})}"


def test_serve_records_and_hears_announcements_over_rediss_as_an_acl_user(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    first = publish_synthetic_snapshot(snapshots, seed=1).name
    environment = {**os.environ, "BASKETRY_REDIS_PASSWORD": PASSWORD}
    server = ServeProcess(
        [
            "--snapshot-dir", str(snapshots),
            "--port", "0",
            "--metrics-port", "0",
            "--poll-interval", "3600",  # only an announcement makes it look at LATEST
            "--grace", "0",
            "--log-level", "debug",
            *tls_flags(tls_redis),
        ],
        environment,
    )  # fmt: skip
    try:
        target = server.target()
        server.wait_for("subscribed to snapshot announcements")
        with BasketryClient(target, timeout=TIMEOUT) as client:
            assert client.model_info().model_version == first
            order = Order("o1", "c0000", [OrderLine("i001", 2.0)])
            assert client.record_orders([order]).accepted == 1
            assert client.record_orders([order]).duplicates == 1
            # Twice: the second answer comes from the answer cache in Redis.
            assert client.recommend("c0000").items == client.recommend("c0000").items
            with tls_redis.client() as redis:
                assert redis.get("basketry:held") == "1"
                assert redis.sismember("basketry:order_ids", "o1")
            second = publish_synthetic_snapshot(snapshots, seed=2).name
            announced = subprocess.run(
                [
                    str(BASKETRY), "publish",
                    "--snapshot-dir", str(snapshots),
                    "--version", second,
                    "--redis-url", url_with_tls_options(tls_redis),
                ],
                env=environment, capture_output=True, text=True, timeout=TIMEOUT,
            )  # fmt: skip
            assert announced.returncode == 0, announced.stderr
            assert "(1 server(s) listening)" in announced.stderr
            assert PASSWORD not in announced.stderr
            server.wait_for(f"serving snapshot {second}")
            assert client.model_info().model_version == second
    finally:
        code = server.stop()
    assert code == 0, server.log
    assert PASSWORD not in server.log
    for trouble in ("NOPERM", "failed during", "unavailable", "Traceback"):
        assert trouble not in server.log, trouble


def settings(redis: TlsRedisServer, tmp_path: Path, **changes: object) -> ServerSettings:
    files = redis.client_files
    values: dict[str, object] = {
        **TEST_DEFAULTS,
        "redis_url": redis.url,
        "redis_password": PASSWORD,
        "redis_tls_ca_file": files.ca,
        "redis_tls_cert_file": files.cert,
        "redis_tls_key_file": files.key,
        **changes,
    }
    return ServerSettings(snapshot_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_a_wrong_password_stops_the_start_and_is_never_logged(
    tls_redis: TlsRedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-Pass-0b1d"
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError) as refusal:
        create_server(settings(tls_redis, tmp_path, redis_password=wrong))
    message = str(refusal.value)
    assert "refused the login (invalid username-password pair" in message
    assert "BASKETRY_REDIS_PASSWORD" in message
    logged = caplog.text + message
    assert wrong not in logged and PASSWORD not in logged


def test_tls_that_does_not_verify_stops_the_start(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    stranger = issue(trustme.CA(), tmp_path / "stranger", "stranger")
    with pytest.raises(
        ValueError, match=r"TLS with Redis at .* failed .*CERTIFICATE_VERIFY_FAILED"
    ):
        create_server(settings(tls_redis, tmp_path, redis_tls_ca_file=stranger.ca))


def test_redis_tls_files_need_rediss_and_must_be_readable(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    plain = tls_redis.url.replace("rediss://", "redis://")
    with pytest.raises(ValueError, match=r"redis_tls_\* files need a rediss:// redis_url"):
        settings(tls_redis, tmp_path, redis_url=plain)
    with pytest.raises(ValueError, match="redis_tls_cert_file and redis_tls_key_file go together"):
        settings(tls_redis, tmp_path, redis_tls_key_file=None)
    with pytest.raises(ValueError, match=r"Redis TLS CA file .*absent.pem: No such file"):
        create_server(settings(tls_redis, tmp_path, redis_tls_ca_file=tmp_path / "absent.pem"))
    with pytest.raises(ValueError, match="the Redis TLS client certificate and key go together"):
        RedisTls(cert_file=tmp_path / "c.pem")


def test_the_supervisor_refuses_a_wrong_password_before_starting_workers(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    publish_synthetic_snapshot(tmp_path / "snapshots")
    result = subprocess.run(
        [
            str(BASKETRY), "serve",
            "--snapshot-dir", str(tmp_path / "snapshots"),
            "--port", "0", "--metrics-port", "0", "--processes", "2",
            *tls_flags(tls_redis),
        ],
        env={**os.environ, "BASKETRY_REDIS_PASSWORD": "not-it"},
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "refused the login" in result.stderr and "worker" not in result.stderr
    assert "not-it" not in result.stderr
