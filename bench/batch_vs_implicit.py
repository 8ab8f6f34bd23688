"""Mail throughput: batch recommendations against implicit's own batch `recommend`, same model.

implicit's ALS `recommend(userids, user_items, N=10, filter_already_liked_items=True)` over
every customer, with the snapshot's own factors and purchase matrix (one BLAS thread, as the
server runs), is the reference: the bare latent top-10 of never-bought items. Against it, in
the same run:
- `basketry serve` answering RecommendBatchChunked (strategy discover-new: never-bought
  items too, but blended with co-purchase partners, once-only and filter handling) over gRPC
  for every customer in batches of --batch-size, streamed back a chunk of customers per
  message: customers/s end to end (what BasketryClient.recommend_batch and `basketry picks`
  use);
- the same over RecommendBatch, one message per customer (servers before the chunked RPC,
  and clients that ask for it);
- the same serving function in process (basketry.server.recommend.recommend_many, what the
  servicer calls per chunk) without gRPC, alone and with the servicer's chunking and wire
  encoding: how much of the gap is the work, how much the wire.
Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import grpc
import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from serve_latency import free_port, serving, snapshot_or_bundled
from threadpoolctl import threadpool_limits

from basketry.server.batch import answer_chunks
from basketry.server.batch_wire import BatchEncoder, chunk_message
from basketry.server.domain import RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import build_model
from basketry.server.recommend import recommend_many
from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

BASKETRY = [sys.executable, "-m", "basketry.cli.main"]


def implicit_seconds(arrays: dict[str, np.ndarray], repeats: int) -> float:
    customer_factors, item_factors = arrays["customer_factors"], arrays["item_factors"]
    model = AlternatingLeastSquares(factors=customer_factors.shape[1])
    model.user_factors = np.ascontiguousarray(customer_factors)
    model.item_factors = np.ascontiguousarray(item_factors)
    indptr, items = arrays["history_indptr"], arrays["history_items"]
    bought = csr_matrix(
        (np.ones(items.size, dtype=np.float32), items, indptr),
        shape=(customer_factors.shape[0], item_factors.shape[0]),
    )
    customers = np.arange(customer_factors.shape[0])
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.recommend(customers, bought, N=10, filter_already_liked_items=True)
        best = min(best, time.perf_counter() - started)
    return best


def in_process_seconds(snapshot_dir: Path, customer_ids: list[str], batch_size: int) -> float:
    model = build_model(load_latest(snapshot_dir))
    allowed = allowed_items(model, ItemFilter())
    query = RecommendQuery(customer_id="", limit=10, strategy=Strategy.DISCOVER_NEW)
    started = time.perf_counter()
    for offset in range(0, len(customer_ids), batch_size):
        recommend_many(model, customer_ids[offset : offset + batch_size], query, allowed)
    return time.perf_counter() - started


def serving_seconds(snapshot_dir: Path, customer_ids: list[str], batch_size: int) -> float:
    """What the servicer does for RecommendBatchChunked, without gRPC: chunks of answers
    (basketry.server.batch) serialised into chunk messages (basketry.server.batch_wire)."""
    model = build_model(load_latest(snapshot_dir))
    allowed = allowed_items(model, ItemFilter())
    query = RecommendQuery(customer_id="", limit=10, strategy=Strategy.DISCOVER_NEW)
    encoder = BatchEncoder(model)
    started = time.perf_counter()
    for offset in range(0, len(customer_ids), batch_size):
        batch = customer_ids[offset : offset + batch_size]
        for chunk in answer_chunks(model, batch, query, allowed):
            answers = encoder.answers(chunk.customer_ids, chunk.answers)
            pb.RecommendBatchChunk.FromString(chunk_message(answers)).SerializeToString()
    return time.perf_counter() - started


def grpc_seconds(target: str, customer_ids: list[str], batch_size: int, chunked: bool) -> float:
    """Every customer's picks over gRPC, a request per batch; the best of two passes."""
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.RecommenderServiceStub(channel)
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            answered = 0
            for offset in range(0, len(customer_ids), batch_size):
                request = pb.RecommendBatchRequest(
                    customer_ids=customer_ids[offset : offset + batch_size],
                    limit=10,
                    strategy=pb.STRATEGY_DISCOVER_NEW,
                )
                if chunked:
                    calls = stub.RecommendBatchChunked(request, timeout=600)
                    answered += sum(len(message.answers) for message in calls)
                else:
                    answered += sum(1 for _ in stub.RecommendBatch(request, timeout=600))
            best = min(best, time.perf_counter() - started)
            if answered != len(customer_ids):
                raise RuntimeError(f"the batches answered {answered} of {len(customer_ids)}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot-dir", type=Path, help="default: train one on the bundled data")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of, in-process figures")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    snapshot_dir = snapshot_or_bundled(args.snapshot_dir)
    snapshot = load_latest(snapshot_dir)
    customer_ids = [str(c) for c in snapshot.arrays["customer_ids"]]
    n = len(customer_ids)
    with threadpool_limits(limits=1, user_api="blas"):
        reference = implicit_seconds(snapshot.arrays, args.repeats)
        local = min(
            in_process_seconds(snapshot_dir, customer_ids, args.batch_size)
            for _ in range(args.repeats)
        )
        serialised = min(
            serving_seconds(snapshot_dir, customer_ids, args.batch_size)
            for _ in range(args.repeats)
        )
    port = free_port()
    target = f"127.0.0.1:{port}"
    serve = [*BASKETRY, "serve", "--snapshot-dir", str(snapshot_dir), "--port", str(port),
             "--metrics-port", "0", "--cache-ttl", "0"]  # fmt: skip
    with serving(serve, target):
        grpc_seconds(target, customer_ids[: args.batch_size], args.batch_size, chunked=True)
        chunked = grpc_seconds(target, customer_ids, args.batch_size, chunked=True)
        remote = grpc_seconds(target, customer_ids, args.batch_size, chunked=False)
    figures = {
        "customers": n,
        "implicit_recommend_customers_per_second": round(n / reference),
        "basketry_in_process_customers_per_second": round(n / local),
        "basketry_in_process_serialised_customers_per_second": round(n / serialised),
        "basketry_recommend_batch_chunked_customers_per_second": round(n / chunked),
        "basketry_recommend_batch_customers_per_second": round(n / remote),
        "recommend_batch_chunked_vs_implicit": round(reference / chunked, 3),
        "recommend_batch_vs_implicit": round(reference / remote, 3),
        "in_process_vs_implicit": round(reference / local, 3),
    }
    for name, value in figures.items():
        print(f"{name:<48}{value:>12}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
