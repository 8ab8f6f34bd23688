"""Typed server settings; unknown or out-of-range values are refused at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from basketry.server.nearest import ANN_MIN_ROWS
from basketry.snapshot.redis_connection import RedisTls

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    snapshot_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051  # 0 = any free port (tests)
    metrics_port: int | None = 9464  # None = no /metrics endpoint; 0 = any free port
    poll_interval: float = 2.0  # seconds between LATEST checks (announcements check at once)
    # gRPC handler threads per process. Scoring is Python and numpy under one GIL, so more
    # threads add contention, not speed: on Online Retail with 16 concurrent callers one
    # process answered 767 Recommend/s with 1 thread, 551 with 2 and 315 with 8
    # (bench/throughput.py --server-workers). 2 keeps one long RecommendBatch from blocking
    # every Recommend; use --processes for more cores.
    workers: int = 2
    # Server processes sharing the gRPC port (SO_REUSEPORT), for more than one core; /metrics
    # then sums them (Prometheus multiprocess mode). 1 = this process serves alone.
    processes: int = 1
    grace: float = 10.0  # seconds in-flight RPCs get on shutdown
    # RPCs a process holds at once, running or queued for a handler thread; beyond it gRPC
    # answers RESOURCE_EXHAUSTED at once instead of queueing without bound, so overload costs
    # latency only up to this depth and the server recovers as soon as load drops. 0 = no limit.
    max_concurrent_rpcs: int = 64
    # TLS on the gRPC port (basketry.server.tls): a PEM certificate chain and its key, both or
    # neither (neither = plaintext). With a client CA too, mutual TLS: only clients
    # presenting a certificate that CA signed get past the handshake.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # Every RecommenderService call needs an API key whose hash this file lists, with the
    # key's role (basketry.server.auth); None = no authentication.
    api_keys_file: Path | None = None
    # A 10,000-id batch or look-alike seed is ~2.6 MB; 16 MiB leaves room, and stays explicit.
    max_message_bytes: int = 16 * MIB
    # Recorded orders held in process between trainings (basketry.server.memory_store).
    max_recorded_orders: int = 50_000
    # Recorded orders in Redis (shared by replicas, kept across restarts) instead of in
    # process, and snapshot announcements subscribed to there: redis:// or rediss:// (TLS),
    # ACL user and password in the URL or in redis_password. Neither is shown in repr:
    # settings may end up in a log.
    redis_url: str | None = field(default=None, repr=False)
    redis_password: str | None = field(default=None, repr=False)
    # For rediss://: the CA of Redis's certificate (default: the system's roots) and a client
    # certificate and key when Redis asks for one (tls-auth-clients).
    redis_tls_ca_file: Path | None = None
    redis_tls_cert_file: Path | None = None
    redis_tls_key_file: Path | None = None
    redis_prefix: str = "basketry:"
    redis_timeout: float = 0.25  # seconds to connect and per command: fail fast, degrade
    # Mail rotation: days an item sent under a RecommendBatch campaign is not sent to the same
    # customer again (0 disables), and the (campaign, customer) pairs held in process
    # without Redis (basketry.server.memory_sent_picks).
    rotation_days: float = 14.0
    max_rotation_customers: int = 100_000
    # Recommend answers cached for this many seconds (0 disables), in Redis when redis_url is
    # set, else in process, at most cache_max_entries of them (basketry.server.answer_cache).
    cache_ttl: float = 60.0
    cache_max_entries: int = 10_000
    # Similar items/customers, look-alike and Recommend's latent candidates use the snapshot's
    # approximate (USearch) index of a side with at least this many rows, exact top-k below
    # (basketry.server.nearest; recall@10 >= 0.98 measured by bench/ann_recall.py).
    ann_min_rows: int = ANN_MIN_ROWS

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host must not be empty")
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be 0..65535, got {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            problems.append(f"metrics_port must be 0..65535, got {self.metrics_port}")
        if not (math.isfinite(self.poll_interval) and self.poll_interval > 0):
            problems.append(
                f"poll_interval must be a positive number of seconds, got {self.poll_interval}"
            )
        if self.workers < 1:
            problems.append(f"workers must be at least 1, got {self.workers}")
        if not 1 <= self.processes <= 64:
            problems.append(f"processes must be 1..64, got {self.processes}")
        problems += self._tls_problems()
        if self.max_concurrent_rpcs < 0:
            problems.append(
                f"max_concurrent_rpcs must be 0 (no limit) or more, got {self.max_concurrent_rpcs}"
            )
        if not (math.isfinite(self.grace) and self.grace >= 0):
            problems.append(f"grace must be a non-negative number of seconds, got {self.grace}")
        if self.max_message_bytes < MIB:
            problems.append(
                f"max_message_bytes must be at least {MIB}, got {self.max_message_bytes}"
            )
        if self.max_recorded_orders < 1:
            problems.append(
                f"max_recorded_orders must be at least 1, got {self.max_recorded_orders}"
            )
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in ("redis", "rediss"):
                problems.append(
                    f"redis_url must start with redis:// or rediss:// (TLS), got {scheme!r}"
                )
        if not self.redis_prefix:
            problems.append("redis_prefix must not be empty")
        if not (math.isfinite(self.redis_timeout) and self.redis_timeout > 0):
            problems.append(
                f"redis_timeout must be a positive number of seconds, got {self.redis_timeout}"
            )
        if not (math.isfinite(self.rotation_days) and self.rotation_days >= 0):
            problems.append(
                f"rotation_days must be a non-negative number of days, got {self.rotation_days}"
            )
        if self.max_rotation_customers < 1:
            problems.append(
                f"max_rotation_customers must be at least 1, got {self.max_rotation_customers}"
            )
        if not (math.isfinite(self.cache_ttl) and self.cache_ttl >= 0):
            problems.append(
                f"cache_ttl must be a non-negative number of seconds, got {self.cache_ttl}"
            )
        if self.ann_min_rows < 1:
            problems.append(f"ann_min_rows must be at least 1, got {self.ann_min_rows}")
        if self.cache_max_entries < 1:
            problems.append(f"cache_max_entries must be at least 1, got {self.cache_max_entries}")
        if problems:
            raise ValueError("invalid server settings: " + "; ".join(problems))

    def _tls_problems(self) -> list[str]:
        problems = []
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            problems.append("tls_cert_file and tls_key_file go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            problems.append(
                "tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file as well"
            )
        redis_files = (self.redis_tls_ca_file, self.redis_tls_cert_file, self.redis_tls_key_file)
        if any(path is not None for path in redis_files):
            if self.redis_url is None or urlsplit(self.redis_url).scheme != "rediss":
                problems.append("redis_tls_* files need a rediss:// redis_url")
            if (self.redis_tls_cert_file is None) != (self.redis_tls_key_file is None):
                problems.append(
                    "redis_tls_cert_file and redis_tls_key_file go together: set both or neither"
                )
        return problems

    @property
    def redis_tls(self) -> RedisTls | None:
        """The Redis TLS files, when any is set."""
        if (self.redis_tls_ca_file, self.redis_tls_cert_file) == (None, None):
            return None
        return RedisTls(self.redis_tls_ca_file, self.redis_tls_cert_file, self.redis_tls_key_file)

    @property
    def rotation_seconds(self) -> int:
        """The rotation window in whole seconds; 0 when rotation is off."""
        return 0 if self.rotation_days == 0 else max(1, round(self.rotation_days * 86_400))
