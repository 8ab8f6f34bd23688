"""The one way Basketry connects to Redis (server stores, the answer cache, announcements).

Shared here because both the server and the training job (which announces snapshots) use
it, and the server may not import training code.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.retry import Retry


@dataclass(frozen=True)
class RedisTls:
    """Files for a rediss:// connection: the CA that signed Redis's certificate (default:
    the system's roots) and, for a Redis that asks clients for one (`tls-auth-clients`), a
    client certificate and its unencrypted key."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("the Redis TLS client certificate and key go together: set both")

    def check(self) -> None:
        """Read the files as the connection will; ValueError names a missing or bad one, so
        a typo is a clear error at start rather than Redis "unavailable" at the first call."""
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"Redis TLS CA file {self.ca_file}: {_reason(exc)} (expected PEM certificates)"
                ) from None
        if self.cert_file is not None and self.key_file is not None:
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file), password="")
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"Redis TLS client certificate {self.cert_file} / key {self.key_file}: "
                    f"{_reason(exc)} (expected a PEM certificate and its unencrypted key)"
                ) from None

    def connection_options(self) -> dict[str, Any]:
        """redis-py's keyword arguments for these files."""
        options: dict[str, Any] = {}
        if self.ca_file is not None:
            options["ssl_ca_certs"] = str(self.ca_file)
        if self.cert_file is not None:
            options["ssl_certfile"] = str(self.cert_file)
            options["ssl_keyfile"] = str(self.key_file)
        return options


def redis_client(
    url: str,
    *,
    password: str | None = None,
    tls: RedisTls | None = None,
    timeout: float = 0.25,
    retries: int = 1,
    decode_responses: bool = True,
) -> redis.Redis:
    """A client for redis:// or rediss:// (TLS) `url` that fails fast: `timeout` seconds to
    connect and per command, `retries` immediate retries (one by default: a pooled connection
    may have gone stale across a Redis restart; 0 where the caller's own loop reconnects).
    A password in the URL wins over `password`; the ACL user goes in the URL. `tls` files
    need a rediss:// URL (redis-py's own URL options, e.g. ?ssl_ca_certs=FILE, work too).
    ValueError for TLS files with redis:// or files that cannot be read."""
    options: dict[str, Any] = {}
    if tls is not None:
        if urlsplit(url).scheme != "rediss":
            raise ValueError("Redis TLS files need a rediss:// URL (redis:// is not encrypted)")
        tls.check()
        options = tls.connection_options()
    return redis.Redis.from_url(
        url,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries=retries),
        decode_responses=decode_responses,
        **options,
    )


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)


def check_login(client: redis.Redis, address: str) -> None:
    """Ping Redis; ValueError if it refuses the login (user, password), the user may not even
    PING, or the TLS handshake fails: none of these mends itself, so a caller should stop
    rather than retry. Any other failure (Redis down, slow) passes: it may come back.
    `address` (no password) is for messages."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise ValueError(
            f"Redis at {address} refused the login ({exc}): check the user in the URL and "
            "the password (BASKETRY_REDIS_PASSWORD or redis_password in the config file)"
        ) from None
    except NoPermissionError as exc:
        raise ValueError(f"the Redis user at {address} is not allowed to PING: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if isinstance(exc.__context__, ssl.SSLError):
            raise ValueError(
                f"TLS with Redis at {address} failed ({exc.__context__}): check the CA file "
                "(and the client certificate, if Redis asks for one)"
            ) from None
        # Otherwise down or slow, which may pass: the caller degrades and reconnects.
