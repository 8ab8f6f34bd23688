"""Servers on loopback ports for tests: a real Basketry server, or a stub answering one
RecommenderService method with a handler of the test's own (for client behaviour the real
server cannot be made to show on demand: a late answer, a stream that breaks)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from basketry.server.app import BasketryServer, create_server
from basketry.server.settings import ServerSettings

TEST_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "metrics_port": None,
    "poll_interval": 0.05,
    "workers": 4,
    "grace": 0.0,
}


@dataclass(frozen=True)
class RunningServer:
    target: str  # "127.0.0.1:PORT", ready for grpc.insecure_channel
    port: int
    server: BasketryServer

    @property
    def metrics_port(self) -> int | None:
        return self.server.metrics_port


@contextmanager
def running_server(snapshot_dir: Path, **settings: Any) -> Iterator[RunningServer]:
    """Start a server on `snapshot_dir` (in this process, its own threads); stop it on exit.

    `settings` override ServerSettings fields; by default any free port, no metrics
    endpoint and a 50 ms snapshot poll. The server has loaded LATEST (if any) on entry.
    """
    server, port = create_server(
        ServerSettings(snapshot_dir=snapshot_dir, **{**TEST_DEFAULTS, **settings})
    )
    server.start()
    try:
        yield RunningServer(target=f"127.0.0.1:{port}", port=port, server=server)
    finally:
        server.stop(grace=0)


@contextmanager
def stub_server(method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> Iterator[str]:
    """A server answering only RecommenderService `method` with `handler`; yields its target."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("basketry.v1.RecommenderService", {method: handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
