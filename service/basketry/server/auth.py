"""API-key authentication of RecommenderService calls (`basketry serve --api-keys-file FILE`).

A caller sends its key as metadata `authorization: Bearer <key>` or `x-api-key: <key>`.
The file lists SHA-256 hashes of the keys, never the keys, one per line with a role:

    # role  hash of the key                                                          name
    write   sha256:e7900c524767cd232b07f40b366375ca26bc786eab4f8ace1149ffb1eb8945a9  checkout
    read    sha256:49365b9c5be351009fcffce75b2ea538aef2d9d4f2144830b214870f948a542d  mailings

`read` may call every RecommenderService method except RecordOrders; `write` calls all. The
name (optional, one word) is what logs show; "line N" without one. `#` starts a comment.
Make a key and its line with:

    KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    echo "read sha256:$(printf %s "$KEY" | sha256sum | cut -d' ' -f1) mailings"

No key or an unknown one is UNAUTHENTICATED, a read key calling RecordOrders
PERMISSION_DENIED, both raised for ErrorInterceptor (the one place errors become statuses)
and counted by MetricsInterceptor under their code. Health, reflection and the HTTP /metrics
port need no key (probes, tooling). The file is read once at start: changing keys needs a
restart. Keys are compared by hash with hmac.compare_digest, against every entry; a key
never reaches a log, an error message or an exception (refusals are logged by reason only).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc

from basketry.server.errors import PermissionDenied, Unauthenticated
from basketry.server.interceptors import Streaming, Unary, WrappingInterceptor
from basketry.server.throttled_log import ThrottledWarning

log = logging.getLogger(__name__)

ROLES = ("read", "write")
# Methods a `read` key may not call.
WRITE_METHODS = frozenset({"RecordOrders"})
_HASH = re.compile(r"sha256:([0-9a-fA-F]{64})")
_LINE_FORMAT = "'<role> sha256:<64 hex digits> [name]'"


@dataclass(frozen=True)
class ApiKey:
    role: str
    digest: bytes  # SHA-256 of the key
    name: str  # for logs


class ApiKeys:
    """The keys a server accepts."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        if not keys:
            raise ValueError("no API keys: every call would be refused")
        self._keys = tuple(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, key: str) -> ApiKey | None:
        """The entry of `key`, or None. Every entry is compared, matching or not."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for entry in self._keys:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return found


def load_api_keys(path: Path) -> ApiKeys:
    """The keys of file `path`; ValueError names the file and line of a problem (never quoting
    the line: a key pasted in by mistake must not end up in a log)."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read api_keys_file {path}: {reason or exc}") from None
    keys: list[ApiKey] = []
    seen: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"api_keys_file {path} line {number}"
        if len(fields) not in (2, 3):
            raise ValueError(f"{where}: expected {_LINE_FORMAT}, got {len(fields)} fields")
        role, hashed = fields[0], fields[1]
        if role not in ROLES:
            raise ValueError(f"{where}: the role must be one of {', '.join(ROLES)}")
        match = _HASH.fullmatch(hashed)
        if match is None:
            raise ValueError(
                f"{where}: the second field must be sha256:<64 hex digits>, the hash of the "
                "key (never the key itself)"
            )
        digest = bytes.fromhex(match[1])
        if digest in seen:
            raise ValueError(f"{where}: the same key is listed twice")
        seen.add(digest)
        keys.append(ApiKey(role, digest, fields[2] if len(fields) == 3 else f"line {number}"))
    if not keys:
        raise ValueError(f"api_keys_file {path} lists no keys: every call would be refused")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        log.warning("api_keys_file %s is writable by other users: they could add keys", path)
    return ApiKeys(keys)


def presented_key(metadata: Sequence[tuple[str, Any]]) -> str | None:
    """The key a call carries: `authorization: Bearer <key>`, else `x-api-key: <key>`.
    Unauthenticated for an authorization value of another scheme."""
    values = {key: value for key, value in reversed(metadata) if isinstance(value, str)}
    authorization = values.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <API key>'")
        return key.strip()
    key = values.get("x-api-key", "").strip()
    return key or None


class AuthInterceptor(WrappingInterceptor):
    """Refuses RecommenderService calls without a known key, or whose key's role may not
    call the method. Sits inside ErrorInterceptor, which turns its errors into statuses."""

    def __init__(self, keys: ApiKeys) -> None:
        super().__init__()
        self.keys = keys
        self._refused = ThrottledWarning(log, interval=60.0)

    def wrap_unary(self, method: str, behaviour: Unary) -> Unary:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            self.authorize(method, context)
            return behaviour(request, context)

        return handle

    def wrap_stream(self, method: str, behaviour: Streaming) -> Streaming:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            self.authorize(method, context)
            yield from behaviour(request, context)

        return handle

    def authorize(self, method: str, context: grpc.ServicerContext) -> None:
        """Return if the call may go on, else raise Unauthenticated or PermissionDenied."""
        try:
            key = presented_key(context.invocation_metadata())
        except Unauthenticated as error:
            self._refuse(method, error)
        if key is None:
            self._refuse(
                method,
                Unauthenticated(
                    "this server needs an API key: metadata 'authorization: Bearer <key>' "
                    "or 'x-api-key: <key>'"
                ),
            )
        entry = self.keys.identify(key)
        if entry is None:
            self._refuse(method, Unauthenticated("unknown API key"))
        if entry.role != "write" and method in WRITE_METHODS:
            self._refuse(
                method,
                PermissionDenied(
                    f"API key {entry.name!r} has role {entry.role}: {method} needs a write key"
                ),
            )
        log.debug("%s by API key %r (role %s)", method, entry.name, entry.role)

    def _refuse(self, method: str, error: Unauthenticated | PermissionDenied) -> NoReturn:
        self._refused.warn(f"refused a {method} call: {error.message}")
        raise error
