"""Basketry end to end on the bundled Online Retail data: train, serve, ask, stop.

    make demo                           (or: .venv/bin/python examples/demo.py)

Trains a snapshot into a temporary directory with `basketry train`, starts
`basketry serve` on a free port, waits until its health check says SERVING, asks it a
few questions with `BasketryClient`, then stops it with SIGTERM. Exits 0 on success.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from basketry.client import BasketryClient, BasketryClientError, Strategy
from basketry.client.cli.output import bundle_table, customers_table, items_table

ORDERS = Path(__file__).resolve().parent / "data" / "online_retail.csv.gz"
BASKETRY = [sys.executable, "-m", "basketry.cli.main"]
CUSTOMERS = ("17850", "12347")
BUNDLE_ITEM = "85123A"  # WHITE HANGING HEART T-LIGHT HOLDER, the best seller
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def main() -> int:
    if not ORDERS.exists():
        print(f"demo: the order file {ORDERS} is missing", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="basketry-demo-") as workdir:
        try:
            run_demo(Path(workdir))
        except (DemoError, BasketryClientError) as error:
            print(f"\ndemo failed: {error}", file=sys.stderr)
            return 1
    print("\ndemo finished")
    return 0


def run_demo(workdir: Path) -> None:
    snapshot_dir = workdir / "snapshots"
    stage(f"1/4 training on {ORDERS.name} (preset online-retail)")
    train = [
        *BASKETRY,
        "train",
        "--orders",
        str(ORDERS),
        "--preset",
        "online-retail",
        "--snapshot-dir",
        str(snapshot_dir),
    ]
    if subprocess.run(train, check=False).returncode != 0:
        raise DemoError("`basketry train` failed (see its output above)")

    port = free_port()
    target = f"127.0.0.1:{port}"
    server_log = workdir / "server.log"
    stage(f"2/4 starting `basketry serve` on {target}")
    serve = [
        *BASKETRY,
        "serve",
        "--snapshot-dir",
        str(snapshot_dir),
        "--port",
        str(port),
        "--metrics-port",
        "0",
    ]
    with open(server_log, "wb") as log:
        server = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(target, server, server_log)
        stage("3/4 asking the server")
        with BasketryClient(target, timeout=10.0) as client:
            ask(client)
    finally:
        stage("4/4 stopping the server (SIGTERM)")
        stop(server)


def ask(client: BasketryClient) -> None:
    info = client.model_info()
    counts = info.counts
    print(
        f"model {info.model_version}: {counts.get('customers', 0):,} customers, "
        f"{counts.get('items', 0):,} items, {counts.get('orders', 0):,} orders, "
        f"{counts.get('rules', 0):,} bought-together partner entries"
    )

    for customer_id in CUSTOMERS:
        for strategy in (Strategy.BALANCED, Strategy.DISCOVER_NEW):
            picks = client.recommend(customer_id, limit=5, strategy=strategy, explain=True)
            fallback = f" (fallback: {picks.fallback})" if picks.fallback else ""
            heading(f"picks for customer {customer_id}, {strategy}{fallback}")
            print(items_table(picks.items))

    bundle = client.bundle([BUNDLE_ITEM], limit=5)
    heading(f"bought together with {BUNDLE_ITEM} (WHITE HANGING HEART T-LIGHT HOLDER)")
    print(bundle_table(bundle.items))

    audience = client.lookalike(seed_item_ids=[BUNDLE_ITEM], limit=5)
    heading(
        f"look-alike customers for buyers of {BUNDLE_ITEM} (seed of {audience.seed_size} buyers)"
    )
    print(customers_table(audience.customers))


def stage(message: str) -> None:
    print(f"\n== {message}", flush=True)


def heading(message: str) -> None:
    print(f"\n-- {message}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_serving(target: str, server: subprocess.Popen[bytes], server_log: Path) -> None:
    """Polls the standard gRPC health check until SERVING; fails fast if the server dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    request = health_pb2.HealthCheckRequest(service="")
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise DemoError(
                    f"the server exited with code {server.returncode}:\n{tail(server_log)}"
                )
            try:
                status = health.Check(request, timeout=1.0).status
            except grpc.RpcError as error:
                if not isinstance(error, grpc.Call) or error.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise DemoError(f"health check failed: {error}") from error
                status = health_pb2.HealthCheckResponse.NOT_SERVING  # not listening yet
            if status == health_pb2.HealthCheckResponse.SERVING:
                print(f"server is SERVING on {target}")
                return
            time.sleep(0.2)
    raise DemoError(
        f"the server was not SERVING within {STARTUP_TIMEOUT:.0f}s:\n{tail(server_log)}"
    )


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise DemoError(f"the server did not stop within {STOP_TIMEOUT:.0f}s; killed it") from None
    print(f"server stopped (exit code {code})")


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
