"""Redis settings: URL checks, passwords kept out of logs, ACL auth; the throttled warning."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer, require_redis_server

from basketry.server.orders import OrderStoreUnavailable, RecordedLine, RecordedOrder
from basketry.server.redis_store import RedisOrderStore, redacted
from basketry.server.settings import ServerSettings
from basketry.server.throttled_log import ThrottledWarning
from basketry.snapshot.redis_connection import redis_client

SECRET = "s3cret-pass"


def test_a_redis_url_needs_a_redis_scheme_and_is_never_shown() -> None:
    with pytest.raises(ValueError, match=r"redis:// or rediss:// .*'http'"):
        ServerSettings(snapshot_dir=Path("s"), redis_url=f"http://u:{SECRET}@host:6379")
    with pytest.raises(ValueError, match="redis_timeout must be a positive"):
        ServerSettings(snapshot_dir=Path("s"), redis_url="redis://host", redis_timeout=0)
    settings = ServerSettings(
        snapshot_dir=Path("s"), redis_url=f"rediss://u:{SECRET}@host:6380/1", redis_password="x"
    )
    assert SECRET not in repr(settings) and "rediss" not in repr(settings)


def test_redacted_hides_only_the_password() -> None:
    assert redacted(f"rediss://app:{SECRET}@cache.internal:6380/2") == (
        "rediss://app:***@cache.internal:6380/2"
    )
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[RedisServer]:
    running = RedisServer(require_redis_server(), tmp_path, extra_args=("--requirepass", SECRET))
    running.start()
    yield running
    running.stop()


def test_the_password_comes_from_the_url_or_the_setting(password_redis: RedisServer) -> None:
    order = RecordedOrder("o1", "c1", 100, (RecordedLine("a", 1.0),))
    in_url = password_redis.url.replace("redis://", f"redis://default:{SECRET}@")
    assert RedisOrderStore(redis_client(in_url)).record([order]).accepted == 1
    separate = RedisOrderStore(redis_client(password_redis.url, password=SECRET))
    assert separate.held() == 1
    errors: list[str] = []
    refused = RedisOrderStore(
        redis_client(password_redis.url, password="wrong"), on_error=errors.append
    )
    with pytest.raises(OrderStoreUnavailable) as failed:
        refused.held()
    assert errors == ["held"] and "wrong" not in str(failed.value)


def test_a_recurring_warning_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    warning = ThrottledWarning(logging.getLogger("test.throttle"), interval=0.1)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            warning.warn("redis down")
        assert [r.getMessage() for r in caplog.records] == ["redis down"]
        time.sleep(0.15)
        warning.warn("redis down")
    assert caplog.records[-1].getMessage() == "redis down (4 more like it in the last 0.1s)"
