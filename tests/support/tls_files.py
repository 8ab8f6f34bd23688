"""PEM files for TLS tests: certificates from a throwaway trustme CA, written to a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

# What loopback servers in tests are reached as; both go into every certificate.
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the issuing CA's certificate
    cert: Path  # the certificate (chain)
    key: Path  # its unencrypted private key


def issue(ca: trustme.CA, directory: Path, name: str) -> TlsFiles:
    """A certificate of `ca` for the loopback names (usable by servers and clients), written
    as <name>-ca.pem, <name>.pem and <name>.key in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    issued = ca.issue_cert(*LOOPBACK_NAMES)
    files = TlsFiles(
        directory / f"{name}-ca.pem", directory / f"{name}.pem", directory / f"{name}.key"
    )
    ca.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    files.cert.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    return files
