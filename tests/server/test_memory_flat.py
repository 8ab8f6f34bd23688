"""Memory stays flat: `basketry serve` (a real process) answers a warm-up of 1,000 mixed
requests, then 10,000 more, and its resident memory grows by less than 10% + 4 MiB.

The requests cover every RPC, valid and invalid (bad limits, blank ids, control
characters, invalid UTF-8, random bytes), unknown ids, cancelled batch streams and calls
past their deadline, sent by 4 client threads. They are drawn from a fixed pool (ids,
order ids, campaigns, filters), and the server's in-process stores are bounded small, so
the warm-up already fills the answer cache, the recorded orders and the mail-rotation
memory to their bounds: what grows after that is a leak, not a cache filling up.

Why 10% + 4 MiB: the server's RSS after the warm-up is ~86 MiB (numpy, gRPC, the
snapshot), and grows by ~3 MiB over the next 5,000 requests, then by ~0.2 MiB per 5,000
(measured up to 40,000: allocator arenas settling, not a per-request leak); the bound, ~13
MiB, leaves room for that on another machine, while a leak of 1.5 KB per request (15 MiB
over 10,000) fails.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from support.raw_calls import Outcome, call_raw
from support.serve_process import ServeProcess
from support.synthetic import customer_id, item_id

from basketry.v1 import recommender_pb2 as pb

WARM_UP = 1_000
MEASURED = 10_000
START_BOUND = 60.0  # seconds: only bounds a hang (a slow, shared CI machine)
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


@pytest.fixture
def serve(snapshot_dir: Path) -> Iterator[tuple[str, int]]:
    """`basketry serve` on the synthetic snapshot: (gRPC target, process id)."""
    server = ServeProcess(
        [
            "--snapshot-dir",
            str(snapshot_dir),
            "--port",
            "0",
            "--metrics-port",
            "0",
            # Small bounds, so the warm-up fills them (see the module's docstring).
            "--cache-max-entries",
            "200",
            "--max-recorded-orders",
            "100",
            "--max-rotation-customers",
            "200",
        ],
        os.environ,
    )
    try:
        yield server.target(), server.process.pid
    finally:
        server.stop()


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


class MixedRequests:
    """Calls of every RPC, valid (2 in 3) and invalid, from a fixed pool of values; a few
    batch streams are cancelled by the client or given a deadline too short to finish."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.customers = [customer_id(i) for i in range(200)] + [f"guest-{i}" for i in range(20)]
        self.items = [item_id(i) for i in range(120)] + ["no-such-item"]
        self.valid: list[Callable[[], tuple[str, bytes]]] = [
            self.recommend,
            self.batch,
            self.chunked_batch,
            self.bundle,
            self.similar_items,
            self.similar_customers,
            self.lookalike,
            self.record_orders,
            lambda: ("GetModelInfo", b""),
        ]
        self.invalid: list[Callable[[], tuple[str, bytes]]] = [
            lambda: ("Recommend", _bytes(pb.RecommendRequest(customer_id=" ", limit=-3))),
            lambda: ("Recommend", _bytes(pb.RecommendRequest(customer_id="c\x00"))),
            lambda: ("Recommend", b"\x0a\x03c\xff1"),  # invalid UTF-8
            lambda: ("RecordOrders", b"\x0a\x05\x0a\x03o\xfe1"),
            lambda: (
                "RecommendBatchChunked",
                _bytes(pb.RecommendBatchRequest(customer_ids=["c0001", ""] * 30)),
            ),
            self.random_bytes,
        ]

    def calls(self, count: int) -> list[Callable[[grpc.Channel], Outcome]]:
        return [self.call() for _ in range(count)]

    def call(self) -> Callable[[grpc.Channel], Outcome]:
        roll = self.rng.random()
        if roll < 0.02:
            batch = pb.RecommendBatchRequest(customer_ids=self.some(self.customers, 200))
            return functools.partial(_cancelled_after_one, request=_bytes(batch))
        if roll < 0.04:
            batch = pb.RecommendBatchRequest(customer_ids=self.customers * 10)
            return functools.partial(
                call_raw, method="RecommendBatchChunked", data=_bytes(batch), timeout=0.002
            )
        method, data = self.rng.choice(self.valid if roll < 0.7 else self.invalid)()
        return functools.partial(call_raw, method=method, data=data)

    def some(self, values: list[str], most: int) -> list[str]:
        return self.rng.sample(values, self.rng.randint(1, most))

    def item_filter(self) -> pb.ItemFilter:
        return self.rng.choice(
            [
                pb.ItemFilter(),
                pb.ItemFilter(only_categories=["cat1"], in_stock_only=True),
                pb.ItemFilter(exclude_item_ids=self.items[:5], max_price=20.0),
            ]
        )

    def recommend(self) -> tuple[str, bytes]:
        request = pb.RecommendRequest(
            customer_id=self.rng.choice(self.customers),
            limit=self.rng.choice([5, 10]),
            filter=self.item_filter(),
            strategy=self.rng.choice([pb.STRATEGY_UNSPECIFIED, pb.STRATEGY_DISCOVER_NEW]),
        )
        return "Recommend", _bytes(request)

    def batch(self) -> tuple[str, bytes]:
        campaign = self.rng.choice(["", "spring", "fall"])
        request = pb.RecommendBatchRequest(
            customer_ids=self.some(self.customers, 8), campaign=campaign
        )
        return "RecommendBatch", _bytes(request)

    def chunked_batch(self) -> tuple[str, bytes]:
        request = pb.RecommendBatchRequest(customer_ids=self.some(self.customers, 20), explain=True)
        return "RecommendBatchChunked", _bytes(request)

    def bundle(self) -> tuple[str, bytes]:
        request = pb.BundleRequest(item_ids=self.some(self.items, 3), filter=self.item_filter())
        return "Bundle", _bytes(request)

    def similar_items(self) -> tuple[str, bytes]:
        return "SimilarItems", _bytes(pb.SimilarItemsRequest(item_id=self.rng.choice(self.items)))

    def similar_customers(self) -> tuple[str, bytes]:
        customer = self.rng.choice(self.customers)
        return "SimilarCustomers", _bytes(pb.SimilarCustomersRequest(customer_id=customer))

    def lookalike(self) -> tuple[str, bytes]:
        seeds = self.some(self.customers, 10)
        return "Lookalike", _bytes(pb.LookalikeRequest(seed_customer_ids=seeds, limit=100))

    def record_orders(self) -> tuple[str, bytes]:
        order = pb.Order(
            order_id=f"o{self.rng.randrange(60)}",  # mostly duplicates after the warm-up
            customer_id=self.rng.choice(self.customers),
            lines=[pb.OrderLine(item_id=i, quantity=1.0) for i in self.some(self.items, 3)],
        )
        return "RecordOrders", _bytes(pb.RecordOrdersRequest(orders=[order]))

    def random_bytes(self) -> tuple[str, bytes]:
        method = self.rng.choice(["RecommendBatch", "Bundle", "Lookalike", "RecordOrders"])
        return method, self.rng.randbytes(self.rng.randrange(1, 64))


def _bytes(message: Message) -> bytes:
    return message.SerializeToString()


def _cancelled_after_one(channel: grpc.Channel, request: bytes) -> Outcome:
    """A batch stream the client cancels after its first message."""
    start: Callable[..., Any] = channel.unary_stream(
        "/basketry.v1.RecommenderService/RecommendBatch"
    )
    stream = start(request, timeout=START_BOUND)
    next(stream)
    stream.cancel()
    return Outcome(grpc.StatusCode.CANCELLED)


def _send(target: str, calls: list[Callable[[grpc.Channel], Outcome]]) -> None:
    """The calls over 4 client threads (the server has 2 handler threads)."""
    with grpc.insecure_channel(target) as channel, futures.ThreadPoolExecutor(4) as pool:
        for outcome in pool.map(lambda call: call(channel), calls):
            assert outcome.code in ALLOWED, outcome


def test_memory_stays_flat_over_10000_requests(serve: tuple[str, int]) -> None:
    target, pid = serve
    requests = MixedRequests(seed=7)
    _send(target, requests.calls(WARM_UP))
    warm = rss_bytes(pid)
    _send(target, requests.calls(MEASURED))
    after = rss_bytes(pid)
    mib = 2**20
    print(f"server RSS: {warm / mib:.1f} MiB after the warm-up, {after / mib:.1f} MiB after")
    assert after - warm < 0.10 * warm + 4 * mib, (warm, after)
    # Still answering normally.
    with grpc.insecure_channel(target) as channel:
        normal = call_raw(
            channel, "Recommend", pb.RecommendRequest(customer_id="c0001").SerializeToString()
        )
    assert normal.code == grpc.StatusCode.OK
