"""The reference for serving benchmarks: the same API answering a fixed ten-item reply.

It parses each request and does no work, so bench/serve_latency.py can report Basketry's
latency and throughput as ratios to the cheapest possible server in the same run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

FIXED_ITEMS = [
    pb.ScoredItem(item_id=f"item-{i}", score=1.0 - i / 10, reason=pb.REASON_PERSONALIZED)
    for i in range(10)
]


class FixedAnswerServicer(pb_grpc.RecommenderServiceServicer):
    def Recommend(
        self, request: pb.RecommendRequest, context: grpc.ServicerContext
    ) -> pb.RecommendResponse:
        return pb.RecommendResponse(items=FIXED_ITEMS, model_version="reference")

    def RecommendBatch(
        self, request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchResponse]:
        for customer_id in request.customer_ids:
            yield pb.RecommendBatchResponse(
                customer_id=customer_id, items=FIXED_ITEMS, model_version="reference"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    pb_grpc.add_RecommenderServiceServicer_to_server(FixedAnswerServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"reference server listening on 127.0.0.1:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
