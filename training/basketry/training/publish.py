"""`basketry publish`: point LATEST at a published version (newest, or an older one to roll
back) and announce it through Redis, so servers load it at once instead of at their next poll.

Also home of the announcement options `basketry train` shares (--redis-url, --redis-prefix).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import redis

from basketry.snapshot import SnapshotError, load_snapshot, read_latest_version
from basketry.snapshot.announce import (
    DEFAULT_PREFIX,
    announce,
    channel_name,
    check_url,
    parse_version,
)
from basketry.snapshot.redis_connection import redis_client
from basketry.snapshot.writer import list_versions, point_latest

log = logging.getLogger(__name__)

# Seconds to connect and to announce: a command line can wait longer than a request can.
REDIS_TIMEOUT = 5.0


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.description = (
        "Point LATEST in a snapshot directory at a published version (default: the newest; "
        "name an older one to roll back) after verifying it, and announce it through Redis "
        "so servers started with --redis-url switch at once (others at their next poll)."
    )
    parser.add_argument(
        "--snapshot-dir", type=Path, required=True, metavar="DIR", help="the snapshot directory"
    )
    parser.add_argument(
        "--version",
        metavar="VERSION",
        help="version directory name to serve (default: the newest published version)",
    )
    add_announce_arguments(parser)
    return _run


def add_announce_arguments(parser: argparse.ArgumentParser) -> None:
    """--redis-url and --redis-prefix: where to announce a published version."""
    parser.add_argument(
        "--redis-url",
        type=redis_url,
        metavar="URL",
        help="announce the version through this Redis (as `basketry serve --redis-url`): "
        "redis://[user[:password]@]host:port/db or rediss:// for TLS; the password may instead "
        "be in BASKETRY_REDIS_PASSWORD or redis_password in the config file (default: unset "
        "= no announcement, servers find the version at their next poll)",
    )
    parser.add_argument(
        "--redis-prefix",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help="Redis key prefix, as the servers use (default %(default)s)",
    )


def redis_url(text: str) -> str:
    """argparse type: a redis:// or rediss:// URL."""
    try:
        return check_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def announce_version(args: argparse.Namespace, version: str) -> bool:
    """Announce `version` if a Redis URL was given; False (logged) if Redis failed."""
    if not args.redis_url:
        return True
    # No retries: the publisher fails once and clearly (servers still poll LATEST).
    client = redis_client(
        args.redis_url,
        password=getattr(args, "redis_password", None),  # env or config file only
        timeout=REDIS_TIMEOUT,
        retries=0,
    )
    try:
        receivers = announce(client, version, prefix=args.redis_prefix)
    except redis.RedisError as exc:
        log.error(
            "could not announce %s through Redis (%s); servers will load it at their next "
            "poll of LATEST",
            version,
            " ".join(str(exc).split()),
        )
        return False
    finally:
        client.close()
    log.info(
        "announced %s on channel %r (%d server(s) listening)",
        version,
        channel_name(args.redis_prefix),
        receivers,
    )
    return True


def _run(args: argparse.Namespace) -> int:
    snapshot_dir: Path = args.snapshot_dir
    try:
        version = _chosen_version(snapshot_dir, args.version)
        log.info("verifying %s", snapshot_dir / version)
        load_snapshot(snapshot_dir / version)
        previous = _current_latest(snapshot_dir)
        point_latest(snapshot_dir, version)
    except SnapshotError as exc:
        print(f"basketry publish: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"basketry publish: error: {exc}", file=sys.stderr)
        return 1
    log.info("LATEST in %s now names %s (was %s)", snapshot_dir, version, previous or "nothing")
    if not args.redis_url:
        log.info("no --redis-url: servers will load %s at their next poll of LATEST", version)
    announced = announce_version(args, version)
    print(version)
    return 0 if announced else 1


def _chosen_version(snapshot_dir: Path, wanted: str | None) -> str:
    if not snapshot_dir.is_dir():
        raise SnapshotError(f"snapshot directory {snapshot_dir} does not exist")
    versions = list_versions(snapshot_dir)
    if wanted is None:
        if not versions:
            raise SnapshotError(f"no published version in {snapshot_dir}")
        return versions[-1]
    version = parse_version(wanted)  # a plain name, never a path
    if version not in versions:
        known = ", ".join(versions[-5:]) or "none"
        raise SnapshotError(f"no version {version!r} in {snapshot_dir} (newest published: {known})")
    return version


def _current_latest(snapshot_dir: Path) -> str | None:
    try:
        return read_latest_version(snapshot_dir)
    except SnapshotError:
        return None  # nothing published before, or LATEST is damaged: this replaces it
