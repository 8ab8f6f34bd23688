"""Snapshot announcements through Redis: the wire format both sides share.

The publisher (`basketry train --redis-url`, `basketry publish`) SETs `<prefix>snapshot:latest`
to the version name and PUBLISHes the same name on `<prefix>snapshots`. Subscribers
(servers) take a message only as a hint to look at LATEST in the snapshot directory now:
Pub/Sub drops messages while a subscriber is disconnected, so servers also poll, and read
the key when they (re)subscribe to catch up on what they missed. A message is never used as
a path: `parse_version` refuses anything that is not a plain version name.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import redis

from basketry.snapshot.errors import SnapshotError

DEFAULT_PREFIX = "basketry:"
# Version names as the writer makes them ("20240101T120000Z-1a2b3c4d", maybe "-2"), and
# anything similar an operator might use; never a separator, never a leading dot.
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def channel_name(prefix: str) -> str:
    return f"{prefix}snapshots"


def latest_key(prefix: str) -> str:
    return f"{prefix}snapshot:latest"


def parse_version(message: str | bytes) -> str:
    """The version an announcement names; SnapshotError if it is not a plain version name."""
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
    except UnicodeDecodeError:
        raise SnapshotError(f"announcement is not UTF-8: {message!r}") from None
    if VERSION_PATTERN.fullmatch(text) is None or ".." in text:
        raise SnapshotError(f"announcement names an invalid version {text[:200]!r}")
    return text


def check_url(url: str) -> str:
    """`url` if it is a redis:// or rediss:// URL, else ValueError (argparse-friendly)."""
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        raise ValueError(f"a Redis URL starts with redis:// or rediss:// (TLS), got {scheme!r}")
    return url


def announce(client: redis.Redis, version: str, *, prefix: str = DEFAULT_PREFIX) -> int:
    """Record `version` as the latest and tell subscribers; returns how many received it.

    redis.RedisError if Redis cannot be reached. The key is set first (in one MULTI with the
    PUBLISH) so a server that subscribes in between finds the version when it catches up.
    """
    parse_version(version)
    pipeline = client.pipeline(transaction=True)
    pipeline.set(latest_key(prefix), version)
    pipeline.publish(channel_name(prefix), version)
    _set, receivers = pipeline.execute()
    return int(receivers)
