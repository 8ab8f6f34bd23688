"""What the server reads for its security at start (TLS credentials, API keys, Redis TLS
files) and the log lines saying what is on. Read once: changes need a restart."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from basketry.server.auth import ApiKeys, load_api_keys
from basketry.server.settings import ServerSettings
from basketry.server.tls import server_credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSecurity:
    credentials: grpc.ServerCredentials | None  # None = plaintext gRPC port
    api_keys: ApiKeys | None  # None = no authentication

    @classmethod
    def load(cls, settings: ServerSettings) -> ServerSecurity:
        """Read every security file of `settings`; ValueError names a missing or bad one."""
        credentials = server_credentials(settings)
        api_keys = None if settings.api_keys_file is None else load_api_keys(settings.api_keys_file)
        if settings.redis_tls is not None:
            settings.redis_tls.check()
        return cls(credentials, api_keys)

    def log(self, settings: ServerSettings) -> None:
        if settings.tls_cert_file is None:
            log.info("gRPC port in plaintext (no --tls-cert)")
        elif settings.tls_client_ca_file is None:
            log.info("gRPC port over TLS (certificate %s)", settings.tls_cert_file)
        else:
            log.info(
                "gRPC port over mutual TLS: client certificates signed by %s required",
                settings.tls_client_ca_file,
            )
        if self.api_keys is None:
            log.info("no API key required (no --api-keys-file)")
            return
        log.info("API keys required: %d listed in %s", len(self.api_keys), settings.api_keys_file)
        if settings.tls_cert_file is None:
            log.warning(
                "API keys travel in clear text on a plaintext port: use --tls-cert/--tls-key "
                "unless TLS ends in front of this server"
            )
