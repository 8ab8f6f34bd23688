"""Shared fixtures: a snapshot directory with one synthetic snapshot, and a server on it.

Helpers live in tests/support (importable as `support.*`: pytest puts this directory on
sys.path for its rootdir conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer, require_redis_server
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    """A snapshot directory holding one synthetic snapshot (200 customers, 120 items)."""
    directory = tmp_path / "snapshots"
    publish_synthetic_snapshot(directory)
    return directory


@pytest.fixture
def server(snapshot_dir: Path) -> Iterator[RunningServer]:
    """A real server on a loopback port serving `snapshot_dir`."""
    with running_server(snapshot_dir) as running:
        yield running


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh, empty redis-server on a free loopback port (skipped without one, outside CI)."""
    directory = tmp_path / "redis"
    directory.mkdir()
    running = RedisServer(require_redis_server(), directory)
    running.start()
    try:
        yield running
    finally:
        running.stop()
