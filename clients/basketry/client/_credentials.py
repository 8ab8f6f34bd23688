"""How a BasketryClient proves who it talks to and who it is: TLS channel credentials from
PEM files, and the API key sent as `authorization: Bearer <key>` metadata on every call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import grpc

# What gRPC metadata can carry: printable ASCII, no spaces.
_KEY = re.compile(r"[\x21-\x7e]+")

PathLike = str | Path


def channel_credentials(
    *,
    tls: bool,
    ca_file: PathLike | None,
    cert_file: PathLike | None,
    key_file: PathLike | None,
    credentials: grpc.ChannelCredentials | None,
) -> grpc.ChannelCredentials | None:
    """The channel's credentials; None for plaintext. Any TLS file implies TLS; `tls` alone
    trusts the system's root certificates. ValueError for a bad combination or file."""
    files = (ca_file, cert_file, key_file)
    if credentials is not None:
        if any(path is not None for path in files):
            raise ValueError("pass either credentials or TLS files, not both")
        return credentials
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate and its key go together: pass both")
    if not tls and all(path is None for path in files):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "tls_ca_file"),
        private_key=_read(key_file, "tls_key_file"),
        certificate_chain=_read(cert_file, "tls_cert_file"),
    )


def call_metadata(
    metadata: Sequence[tuple[str, str]], api_key: str | None
) -> tuple[tuple[str, str], ...]:
    """`metadata` plus the API key's authorization entry. The key is never quoted in an
    error (it would end up in a log)."""
    entries = tuple(metadata)
    if api_key is None:
        return entries
    if _KEY.fullmatch(api_key) is None:
        raise ValueError(
            "the API key must be printable ASCII without spaces or line breaks "
            f"({len(api_key)} characters given)"
        )
    if any(name.lower() in ("authorization", "x-api-key") for name, _ in entries):
        raise ValueError("pass the API key either as api_key or in metadata, not both")
    return (*entries, ("authorization", f"Bearer {api_key}"))


def _read(path: PathLike | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in content:
        raise ValueError(f"{what} {path} is not a PEM file (no -----BEGIN line)")
    return content
