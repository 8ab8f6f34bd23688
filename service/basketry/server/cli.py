"""`basketry serve`: serve the latest snapshot of a snapshot directory over gRPC."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from basketry.server.app import serve
from basketry.server.security import ServerSecurity
from basketry.server.settings import ServerSettings

log = logging.getLogger(__name__)

DEFAULTS = ServerSettings(snapshot_dir=Path("snapshots"))


def configure(name: str, parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "--snapshot-dir", type=Path, required=True, help="directory `basketry train` publishes to"
    )
    parser.add_argument(
        "--host", default=DEFAULTS.host, help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULTS.port, help="gRPC port (default %(default)s)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULTS.metrics_port,
        help="Prometheus /metrics port; 0 disables it (default %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULTS.poll_interval,
        help="seconds between checks of LATEST for a new snapshot; with --redis-url an "
        "announcement also triggers a check at once (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULTS.workers,
        help="gRPC handler threads (default %(default)s)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULTS.processes,
        help="server processes sharing the gRPC port, one per core is a good start; "
        "/metrics sums them (default %(default)s)",
    )
    parser.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=DEFAULTS.max_concurrent_rpcs,
        help="RPCs one process holds at once (running or waiting for a handler thread); "
        "beyond it calls get RESOURCE_EXHAUSTED at once; 0 = no limit (default %(default)s)",
    )
    add_security_arguments(parser)
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULTS.grace,
        help="seconds in-flight requests get to finish on SIGTERM (default %(default)s)",
    )
    parser.add_argument(
        "--max-recorded-orders",
        type=int,
        default=DEFAULTS.max_recorded_orders,
        help="orders recorded since the last training held in memory; beyond it the oldest "
        "are evicted, logged and counted (default %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        help="keep recorded orders in Redis, shared by replicas and kept across restarts, and "
        "listen there for snapshot announcements (`basketry publish`, `basketry train "
        "--redis-url`) to load a new snapshot at once rather than at the next poll: "
        "redis://[user[:password]@]host:port/db or rediss:// for TLS; the password may "
        "instead be in BASKETRY_REDIS_PASSWORD or redis_password in the config file "
        "(default: unset = in this process)",
    )
    parser.add_argument(
        "--redis-tls-ca",
        type=Path,
        metavar="FILE",
        help="with a rediss:// URL: PEM CA certificate(s) Redis's certificate must verify "
        "against (default: the system's roots)",
    )
    parser.add_argument(
        "--redis-tls-cert",
        type=Path,
        metavar="FILE",
        help="with a rediss:// URL: PEM client certificate, for a Redis that asks clients "
        "for one (tls-auth-clients); needs --redis-tls-key",
    )
    parser.add_argument(
        "--redis-tls-key",
        type=Path,
        metavar="FILE",
        help="the unencrypted PEM key of --redis-tls-cert",
    )
    parser.add_argument(
        "--redis-prefix",
        default=DEFAULTS.redis_prefix,
        help="prefix of every Redis key (default %(default)s)",
    )
    parser.add_argument(
        "--redis-timeout",
        type=float,
        default=DEFAULTS.redis_timeout,
        help="seconds to connect to Redis and per command (default %(default)s)",
    )
    parser.add_argument(
        "--rotation-days",
        type=float,
        default=DEFAULTS.rotation_days,
        help="mail rotation: items sent to a customer under a RecommendBatch campaign are not "
        "sent to them again under it for this many days; 0 disables (default %(default)s)",
    )
    parser.add_argument(
        "--max-rotation-customers",
        type=int,
        default=DEFAULTS.max_rotation_customers,
        help="without Redis, (campaign, customer) pairs whose sent picks are held in memory; "
        "beyond it the oldest are forgotten, logged and counted (default %(default)s)",
    )
    parser.add_argument(
        "--cache-ttl",
        type=float,
        default=DEFAULTS.cache_ttl,
        help="seconds a Recommend answer is cached (in Redis with --redis-url, else in this "
        "process); a customer's answers are dropped when an order of theirs is recorded, all "
        "of them when a new snapshot is served; 0 disables (default %(default)s)",
    )
    parser.add_argument(
        "--cache-max-entries",
        type=int,
        default=DEFAULTS.cache_max_entries,
        help="without Redis, Recommend answers cached in memory; beyond it the least recently "
        "used go (default %(default)s)",
    )
    parser.add_argument(
        "--ann-min-rows",
        type=int,
        default=DEFAULTS.ann_min_rows,
        help="use the snapshot's approximate nearest-neighbour index (when it has one) for "
        "catalogues / customer bases of at least this many rows; exact top-k below "
        "(default %(default)s)",
    )
    return _run


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS and API keys of the gRPC port (files read once, at start)."""
    group = parser.add_argument_group("security (files are read at start)")
    group.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve gRPC over TLS with this PEM certificate (chain); needs --tls-key "
        "(default: plaintext)",
    )
    group.add_argument(
        "--tls-key",
        type=Path,
        metavar="FILE",
        help="the unencrypted PEM private key of --tls-cert (readable by the server only)",
    )
    group.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="mutual TLS: clients must present a certificate signed by a CA in this PEM "
        "file, or the handshake fails; needs --tls-cert",
    )
    group.add_argument(
        "--api-keys-file",
        type=Path,
        metavar="FILE",
        help="every RecommenderService call needs an API key (metadata 'authorization: "
        "Bearer KEY' or 'x-api-key: KEY') whose SHA-256 this file lists with a role: lines "
        "'read|write sha256:HEX [name]'; read keys may not call RecordOrders. Health, "
        "reflection and /metrics stay open (default: no keys needed)",
    )


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """The typed settings the options describe; ValueError names every bad one."""
    return ServerSettings(
        snapshot_dir=args.snapshot_dir,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port or None,
        poll_interval=args.poll_interval,
        workers=args.workers,
        processes=args.processes,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        tls_cert_file=args.tls_cert,
        tls_key_file=args.tls_key,
        tls_client_ca_file=args.tls_client_ca,
        api_keys_file=args.api_keys_file,
        grace=args.grace,
        max_recorded_orders=args.max_recorded_orders,
        redis_url=args.redis_url or None,
        # A secret: only the environment or the config file sets it (basketry.cli.main).
        redis_password=getattr(args, "redis_password", None) or None,
        redis_tls_ca_file=args.redis_tls_ca,
        redis_tls_cert_file=args.redis_tls_cert,
        redis_tls_key_file=args.redis_tls_key,
        redis_prefix=args.redis_prefix,
        redis_timeout=args.redis_timeout,
        rotation_days=args.rotation_days,
        max_rotation_customers=args.max_rotation_customers,
        cache_ttl=args.cache_ttl,
        cache_max_entries=args.cache_max_entries,
        ann_min_rows=args.ann_min_rows,
    )


def check_config(args: argparse.Namespace) -> None:
    """`basketry serve --print-config` refuses what a real start would (ValueError), bad
    TLS and API-key files included (Redis itself is not contacted)."""
    ServerSecurity.load(settings_from_args(args))


def _run(args: argparse.Namespace) -> int:
    try:
        return serve(settings_from_args(args))
    except (ValueError, OSError) as exc:
        log.error("basketry serve: %s", exc)
        return 2 if isinstance(exc, ValueError) else 1
