"""TLS and mutual TLS on the gRPC port: the server's credentials from PEM files.

The files are read once, at start (a renewed certificate needs a restart; with
`--processes N` each worker reads them at its own start). They are checked with Python's
ssl module first, so a missing file, something that is not PEM, an encrypted key or a key
that does not belong to the certificate is one clear ValueError naming the file, rather
than a handshake that fails for every client later.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from basketry.server.settings import ServerSettings


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """The gRPC port's credentials; None for plaintext (no tls_cert_file)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    certificate = _read(settings.tls_cert_file, "tls_cert_file")
    key = _read(settings.tls_key_file, "tls_key_file")
    if b"ENCRYPTED" in key:
        raise ValueError(
            f"tls_key_file {settings.tls_key_file} is encrypted; the server needs the key "
            "unencrypted (keep the file readable by the server's user only)"
        )
    _check_pair(settings.tls_cert_file, settings.tls_key_file)
    client_ca = None
    if settings.tls_client_ca_file is not None:
        client_ca = _read(settings.tls_client_ca_file, "tls_client_ca_file")
        _check_ca(settings.tls_client_ca_file)
    return grpc.ssl_server_credentials(
        [(key, certificate)],
        root_certificates=client_ca,
        # With a client CA, a client without a certificate it signed is refused at the
        # handshake, before any RPC.
        require_client_auth=client_ca is not None,
    )


def _read(path: Path, setting: str) -> bytes:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {setting} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in content:
        raise ValueError(f"{setting} {path} is not a PEM file (no -----BEGIN line)")
    return content


def _check_pair(cert_file: Path, key_file: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password, even empty, so OpenSSL never stops to prompt for one on the terminal.
        context.load_cert_chain(str(cert_file), str(key_file), password="")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(
                f"tls_key_file {key_file} is not the key of the certificate in tls_cert_file "
                f"{cert_file}"
            ) from None
        raise ValueError(
            f"tls_cert_file {cert_file} / tls_key_file {key_file}: {exc.reason or exc} "
            "(expected a PEM certificate chain and its PEM private key)"
        ) from None


def _check_ca(ca_file: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except ssl.SSLError as exc:
        raise ValueError(
            f"tls_client_ca_file {ca_file}: {exc.reason or exc} (expected PEM CA certificates)"
        ) from None
