"""Snapshot announcements: the name check, `basketry publish` (rollback and announcement),
and an in-process server that ignores a malformed announcement and survives a dead Redis."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import redis
from redis.client import PubSub
from support.redis_server import RedisServer, _free_port
from support.servers import running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.snapshot import SnapshotError, read_latest_version
from basketry.snapshot.announce import announce, channel_name, latest_key, parse_version
from basketry.snapshot.writer import point_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

BASKETRY = Path(sys.executable).parent / "basketry"
PREFIX = "basketry:"
DEADLINE = 15.0


@pytest.mark.parametrize("name", ["20240101T120000Z-1a2b3c4d", "20240101T120000Z-1a2b3c4d-2"])
def test_plain_version_names_are_accepted(name: str) -> None:
    assert parse_version(name) == name
    assert parse_version(name.encode()) == name


@pytest.mark.parametrize(
    "message", ["../x", "", ".hidden", "a/b", "a\\b", "x..y", "v\n", "v" * 200, b"\xff"]
)
def test_anything_but_a_plain_version_name_is_refused(message: str | bytes) -> None:
    with pytest.raises(SnapshotError):
        parse_version(message)


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, str, str]:
    """A snapshot directory with an older and a newer version; LATEST names the newer."""
    directory = tmp_path / "snapshots"
    older = publish_synthetic_snapshot(directory, seed=1).name
    # Version names sort by their creation second: start the next one in a later second.
    time.sleep(1.05 - time.time() % 1)
    newer = publish_synthetic_snapshot(directory, seed=2).name
    assert older < newer and read_latest_version(directory) == newer
    return directory, older, newer


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as connection:
        yield connection


def _publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BASKETRY), "publish", *args], capture_output=True, text=True, timeout=60
    )


def test_publish_rolls_back_to_an_older_version_and_announces_it(
    two_versions: tuple[Path, str, str], redis_server: RedisServer, client: redis.Redis
) -> None:
    directory, older, newer = two_versions
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    with pubsub as subscription:
        subscription.subscribe(channel_name(PREFIX))
        result = _publish(
            "--snapshot-dir", str(directory), "--version", older, "--redis-url", redis_server.url
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == older
        assert read_latest_version(directory) == older
        assert client.get(latest_key(PREFIX)) == older
        assert _next_message(subscription) == older
        assert f"now names {older} (was {newer})" in result.stderr

        # No --version: forward again to the newest.
        result = _publish("--snapshot-dir", str(directory), "--redis-url", redis_server.url)
        assert result.returncode == 0, result.stderr
        assert read_latest_version(directory) == newer
        assert client.get(latest_key(PREFIX)) == newer


@pytest.mark.parametrize("version", ["20990101T000000Z-00000000", "../snapshots"])
def test_publish_refuses_a_version_that_is_not_published(
    two_versions: tuple[Path, str, str], version: str
) -> None:
    directory, _older, newer = two_versions
    result = _publish("--snapshot-dir", str(directory), "--version", version)
    assert result.returncode == 2
    assert "basketry publish: error:" in result.stderr and repr(version) in result.stderr
    assert read_latest_version(directory) == newer


def test_publish_reports_a_dead_redis_but_still_points_latest(
    two_versions: tuple[Path, str, str],
) -> None:
    directory, older, _newer = two_versions
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    result = _publish("--snapshot-dir", str(directory), "--version", older, "--redis-url", dead)
    assert result.returncode == 1
    assert "could not announce" in result.stderr and "next poll" in result.stderr
    assert read_latest_version(directory) == older


def _next_message(subscription: PubSub) -> str:
    # get_message answers None for the (ignored) subscribe confirmation too: keep reading.
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        message = subscription.get_message(timeout=1)
        if message is not None:
            return str(message["data"])
    raise AssertionError("no announcement received")


def _serving_version(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        reply = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
        return str(reply.model_version)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_malformed_announcement_is_ignored_with_a_log_line(
    two_versions: tuple[Path, str, str],
    redis_server: RedisServer,
    client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory, older, newer = two_versions
    caplog.set_level(logging.INFO, logger="basketry.server")
    # A poll interval no test waits out: only an announcement can make this server switch.
    with running_server(directory, redis_url=redis_server.url, poll_interval=600) as server:
        assert _serving_version(server.target) == newer
        _wait_for(lambda: client.pubsub_numsub(channel_name(PREFIX))[0][1] == 1, "subscription")

        assert client.publish(channel_name(PREFIX), "../x") == 1
        _wait_for(lambda: "ignored snapshot announcement" in caplog.text, "the log line")
        assert "'../x'" in caplog.text
        assert _serving_version(server.target) == newer

        # The listener survived it: a valid announcement still switches the server.
        point_latest(directory, older)
        with redis.Redis.from_url(redis_server.url) as publisher:
            assert announce(publisher, older, prefix=PREFIX) == 1
        _wait_for(lambda: _serving_version(server.target) == older, "the announced version")


def test_without_a_reachable_redis_the_server_still_polls(
    two_versions: tuple[Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    directory, older, newer = two_versions
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    with running_server(directory, redis_url=dead, poll_interval=0.05) as server:
        assert _serving_version(server.target) == newer
        point_latest(directory, older)
        _wait_for(lambda: _serving_version(server.target) == older, "the polled version")
    assert "snapshot announcements from" in caplog.text and "polling LATEST" in caplog.text
