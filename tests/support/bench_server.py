"""Measure serving speed on an Online Retail-sized synthetic snapshot (not a test).

    .venv/bin/python tests/support/bench_server.py [--customers 4300 --items 3700 --factors 64]
    .venv/bin/python tests/support/bench_server.py --snapshot-dir snapshots   # a real one

Starts `basketry serve` as its own process (so the client does not share its GIL),
then times 1,000 sequential Recommend calls over a real channel and one RecommendBatch
for every customer.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc
from support.synthetic import publish_synthetic_snapshot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=4300)
    parser.add_argument("--items", type=int, default=3700)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--snapshot-dir", type=Path, help="serve this instead of a synthetic one")
    args = parser.parse_args()
    snapshot_dir = args.snapshot_dir
    if snapshot_dir is None:
        snapshot_dir = Path(tempfile.mkdtemp()) / "snapshots"
        publish_synthetic_snapshot(
            snapshot_dir, n_customers=args.customers, n_items=args.items, factors=args.factors
        )
    customers = load_latest(snapshot_dir).arrays["customer_ids"].tolist()
    basketry = Path(sys.executable).parent / "basketry"
    server = subprocess.Popen(
        [
            str(basketry),
            "serve",
            "--snapshot-dir",
            str(snapshot_dir),
            "--port",
            "0",
            "--metrics-port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        target = ""
        for line in server.stderr:
            match = re.search(r"listening on (\S+)", line)
            if match:
                target = match.group(1)
                break
        if not target:
            raise SystemExit("the server exited before listening")
        with grpc.insecure_channel(target) as channel:
            stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
            _single(stub, customers, args.calls, explain=False)
            _single(stub, customers, args.calls, explain=True)
            _batch(stub, customers)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _single(
    stub: recommender_pb2_grpc.RecommenderServiceStub,
    customers: list[str],
    calls: int,
    explain: bool,
) -> None:
    rng = np.random.default_rng(1)
    ids = [customers[int(u)] for u in rng.integers(0, len(customers), calls + 50)]
    for warm in ids[:50]:
        stub.Recommend(pb.RecommendRequest(customer_id=warm))
    seconds = []
    for one in ids[50:]:
        started = time.perf_counter()
        stub.Recommend(pb.RecommendRequest(customer_id=one, explain=explain))
        seconds.append(time.perf_counter() - started)
    quantiles = statistics.quantiles(seconds, n=100)
    print(
        f"Recommend (explain={explain}) x{calls}: p50 {quantiles[49] * 1e3:.2f} ms, "
        f"p99 {quantiles[98] * 1e3:.2f} ms, mean {statistics.mean(seconds) * 1e3:.2f} ms"
    )


def _batch(stub: recommender_pb2_grpc.RecommenderServiceStub, customers: list[str]) -> None:
    ids = customers[:10_000]
    for strategy in (pb.STRATEGY_UNSPECIFIED, pb.STRATEGY_DISCOVER_NEW):
        started = time.perf_counter()
        answers = sum(
            1
            for _ in stub.RecommendBatch(
                pb.RecommendBatchRequest(customer_ids=ids, strategy=strategy)
            )
        )
        seconds = time.perf_counter() - started
        print(
            f"RecommendBatch strategy={pb.Strategy.Name(strategy)}: {answers} customers in "
            f"{seconds:.2f} s = {answers / seconds:,.0f} customers/s"
        )


if __name__ == "__main__":
    main()
