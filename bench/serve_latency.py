"""Serving benchmark: Recommend latency and RecommendBatch throughput, against a reference.

Starts `basketry serve` on a snapshot directory (training one on the bundled Online Retail
data first if none is given) and bench/reference_server.py (same API, fixed answer, no work),
then measures both in the same run, one after the other:
- Recommend: sequential calls over one channel for random known customers -> p50/p99 ms;
- RecommendBatch: every known customer in chunks of --batch-size -> customers/second.
Prints a table and writes JSON (--json). Ratios are Basketry / reference.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
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

from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_ORDERS = ROOT / "examples" / "data" / "online_retail.csv.gz"


@dataclass
class Figures:
    recommend_p50_ms: float
    recommend_p99_ms: float
    recommend_mean_ms: float
    batch_customers_per_second: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(target: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.RecommenderServiceStub(channel)
        while True:
            try:
                stub.Recommend(pb.RecommendRequest(customer_id="warm-up"), timeout=2)
                return
            except grpc.RpcError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server at {target} never became ready: {exc}") from exc
                time.sleep(0.2)


def snapshot_or_bundled(snapshot_dir: Path | None) -> Path:
    """`snapshot_dir`, or a fresh snapshot trained on the bundled Online Retail data."""
    if snapshot_dir is not None:
        return snapshot_dir
    snapshot_dir = Path(tempfile.mkdtemp(prefix="basketry-bench-"))
    print(f"training on {BUNDLED_ORDERS.name} into {snapshot_dir} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "basketry.cli.main", "train", "--orders", str(BUNDLED_ORDERS),
         "--preset", "online-retail", "--snapshot-dir", str(snapshot_dir), "--quiet"],
        check=True,
    )  # fmt: skip
    return snapshot_dir


@contextmanager
def serving(
    command: list[str], target: str, timeout: float = 120.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server command until the block ends (then SIGTERM), once it answers on target."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(target, timeout=timeout)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def recommend_latencies_ms(
    stub: pb_grpc.RecommenderServiceStub, customers: list[str], calls: int
) -> list[float]:
    """Milliseconds of `calls` sequential Recommend calls for random customers, sorted
    (after a 50-call warm-up; seeded, so both servers of a run get the same requests)."""
    rng = random.Random(7)
    for customer in customers[:50]:
        stub.Recommend(pb.RecommendRequest(customer_id=customer), timeout=5)
    latencies = []
    for _ in range(calls):
        request = pb.RecommendRequest(customer_id=rng.choice(customers), limit=10)
        start = time.perf_counter()
        stub.Recommend(request, timeout=5)
        latencies.append((time.perf_counter() - start) * 1000)
    return sorted(latencies)


def p99(sorted_values: list[float]) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(0.99 * len(sorted_values)))]


def measure(target: str, customers: list[str], calls: int, batch_size: int) -> Figures:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.RecommenderServiceStub(channel)
        latencies = recommend_latencies_ms(stub, customers, calls)
        start = time.perf_counter()
        answered = 0
        for offset in range(0, len(customers), batch_size):
            chunk = customers[offset : offset + batch_size]
            batch = pb.RecommendBatchRequest(customer_ids=chunk, limit=10)
            answered += sum(1 for _ in stub.RecommendBatch(batch, timeout=120))
        batch_seconds = time.perf_counter() - start
    return Figures(
        recommend_p50_ms=statistics.median(latencies),
        recommend_p99_ms=p99(latencies),
        recommend_mean_ms=statistics.fmean(latencies),
        batch_customers_per_second=answered / batch_seconds,
    )


def run_measured(
    command: list[str], target: str, customers: list[str], args: argparse.Namespace
) -> Figures:
    with serving(command, target, timeout=60.0):
        return measure(target, customers, args.calls, args.batch_size)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot-dir", type=Path, help="default: train one on the bundled data")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    snapshot_dir = snapshot_or_bundled(args.snapshot_dir)
    customers = [str(c) for c in load_latest(snapshot_dir).arrays["customer_ids"]]

    basketry_port, reference_port = free_port(), free_port()
    print(f"{len(customers)} customers; {args.calls} Recommend calls; batches of {args.batch_size}")
    reference = run_measured(
        [
            sys.executable,
            str(Path(__file__).with_name("reference_server.py")),
            "--port",
            str(reference_port),
        ],
        f"127.0.0.1:{reference_port}",
        customers,
        args,
    )
    basketry = run_measured(
        [
            sys.executable,
            "-m",
            "basketry.cli.main",
            "serve",
            "--snapshot-dir",
            str(snapshot_dir),
            "--port",
            str(basketry_port),
            "--metrics-port",
            "0",
        ],
        f"127.0.0.1:{basketry_port}",
        customers,
        args,
    )
    rows = [
        ("Recommend p50 ms", basketry.recommend_p50_ms, reference.recommend_p50_ms),
        ("Recommend p99 ms", basketry.recommend_p99_ms, reference.recommend_p99_ms),
        (
            "RecommendBatch customers/s",
            basketry.batch_customers_per_second,
            reference.batch_customers_per_second,
        ),
    ]
    print(f"{'figure':<28}{'basketry':>12}{'reference':>12}{'ratio':>8}")
    for name, ours, ref in rows:
        print(f"{name:<28}{ours:>12.2f}{ref:>12.2f}{ours / ref:>8.2f}")
    if args.json:
        args.json.write_text(
            json.dumps({"basketry": asdict(basketry), "reference": asdict(reference)}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
