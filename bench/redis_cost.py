"""What Redis costs the server: Recommend latency with and without it, and RecordOrders/s.

Trains a snapshot on the bundled Online Retail data (or takes --snapshot-dir), starts a
`redis-server` of its own on a free loopback port (no persistence), then runs `basketry
serve` twice, one after the other: in process (no --redis-url), then with --redis-url.
Against each:
- RecordOrders/s, 1 order per call (--record-calls calls) and 100 orders per call
  (--record-calls / 10 calls), every order new, 3 lines, for customers of the snapshot;
- Recommend p50/p99 ms over --calls sequential calls for customers without recorded orders,
  then over --calls calls for customers that now have some (their history is read from
  the store and their vector folded in on every call).
Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import redis
from serve_latency import free_port, p99, recommend_latencies_ms, serving, snapshot_or_bundled

from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

LINES_PER_ORDER = 3
BIG_CALL = 100  # orders per RecordOrders call in the batched measurement


@dataclass
class Figures:
    recommend_plain_p50_ms: float
    recommend_plain_p99_ms: float
    recommend_recorded_p50_ms: float
    recommend_recorded_p99_ms: float
    record_1_orders_per_second: float
    record_100_orders_per_second: float


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not on PATH (Debian: apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def recommend_latencies(
    stub: pb_grpc.RecommenderServiceStub, customers: list[str], calls: int
) -> tuple[float, float]:
    latencies = recommend_latencies_ms(stub, customers, calls)
    return statistics.median(latencies), p99(latencies)


class OrderMaker:
    """New orders (unique ids, no timestamp: the server's clock, after the snapshot)."""

    def __init__(self, customers: list[str], items: list[str], tag: str) -> None:
        self.customers, self.items, self.tag = customers, items, tag
        self.rng = random.Random(11)
        self.made = 0

    def orders(self, count: int) -> list[pb.Order]:
        made = []
        for _ in range(count):
            self.made += 1
            order = pb.Order(
                order_id=f"bench-{self.tag}-{self.made}",
                customer_id=self.customers[self.made % len(self.customers)],
            )
            for item in self.rng.sample(self.items, LINES_PER_ORDER):
                order.lines.add(item_id=item, quantity=1.0)
            made.append(order)
        return made


def record_rate(
    stub: pb_grpc.RecommenderServiceStub, maker: OrderMaker, calls: int, per_call: int
) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        request = pb.RecordOrdersRequest(orders=maker.orders(per_call))
        answer = stub.RecordOrders(request, timeout=10)
        if answer.accepted != per_call:
            raise RuntimeError(f"expected {per_call} new orders, {answer.accepted} accepted")
    return calls * per_call / (time.perf_counter() - start)


def measure(
    command: list[str],
    target: str,
    customers: list[str],
    items: list[str],
    args: argparse.Namespace,
) -> Figures:
    with serving(command, target, timeout=60.0):
        half = len(customers) // 2
        plain, recorded = customers[:half], customers[half:][: args.recorded_customers]
        maker = OrderMaker(recorded, items, tag=str(time.time_ns()))
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.RecommenderServiceStub(channel)
            single = record_rate(stub, maker, args.record_calls, 1)
            batched = record_rate(stub, maker, max(1, args.record_calls // 10), BIG_CALL)
            plain_p50, plain_p99 = recommend_latencies(stub, plain, args.calls)
            recorded_p50, recorded_p99 = recommend_latencies(stub, recorded, args.calls)
        return Figures(plain_p50, plain_p99, recorded_p50, recorded_p99, single, batched)


def serve_command(snapshot_dir: Path, port: int, redis_url: str | None) -> list[str]:
    command = [sys.executable, "-m", "basketry.cli.main", "serve"]
    command += ["--snapshot-dir", str(snapshot_dir), "--port", str(port), "--metrics-port", "0"]
    # The answer cache off: repeated calls would otherwise measure cache hits, not Redis's
    # cost on the recorded-orders path.
    command += ["--cache-ttl", "0"]
    return command + (["--redis-url", redis_url] if redis_url else [])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot-dir", type=Path, help="default: train one on the bundled data")
    parser.add_argument("--calls", type=int, default=1000, help="Recommend calls per figure")
    parser.add_argument("--record-calls", type=int, default=1000, help="1-order RecordOrders calls")
    parser.add_argument(
        "--recorded-customers", type=int, default=500, help="customers given recorded orders"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="basketry-redis-cost-"))
    snapshot_dir = snapshot_or_bundled(args.snapshot_dir)
    snapshot = load_latest(snapshot_dir)
    customers = [str(c) for c in snapshot.arrays["customer_ids"]]
    items = [str(i) for i in snapshot.arrays["item_ids"]]
    random.Random(3).shuffle(customers)
    print(
        f"{len(customers)} customers, {len(items)} items; {args.calls} Recommend calls per "
        f"figure; RecordOrders: {args.record_calls} x 1 and {max(1, args.record_calls // 10)} "
        f"x {BIG_CALL} orders of {LINES_PER_ORDER} lines",
        flush=True,
    )
    port = free_port()
    target = f"127.0.0.1:{port}"
    print("measuring without Redis ...", flush=True)
    memory = measure(serve_command(snapshot_dir, port, None), target, customers, items, args)
    (work / "redis").mkdir()
    with redis_server(work / "redis") as redis_url:
        print(f"measuring with Redis at {redis_url} ...", flush=True)
        shared = measure(
            serve_command(snapshot_dir, port, redis_url), target, customers, items, args
        )

    rows = [
        ("Recommend p50 ms, no recorded orders", "recommend_plain_p50_ms"),
        ("Recommend p99 ms, no recorded orders", "recommend_plain_p99_ms"),
        ("Recommend p50 ms, with recorded orders", "recommend_recorded_p50_ms"),
        ("Recommend p99 ms, with recorded orders", "recommend_recorded_p99_ms"),
        ("RecordOrders orders/s, 1 per call", "record_1_orders_per_second"),
        ("RecordOrders orders/s, 100 per call", "record_100_orders_per_second"),
    ]
    print(f"{'figure':<40}{'in process':>12}{'Redis':>12}{'ratio':>8}")
    for name, key in rows:
        ours, theirs = getattr(memory, key), getattr(shared, key)
        print(f"{name:<40}{ours:>12.2f}{theirs:>12.2f}{theirs / ours:>8.2f}")
    if args.json:
        document = {"in_process": asdict(memory), "redis": asdict(shared)}
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
