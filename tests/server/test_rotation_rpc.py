"""Mail rotation over gRPC, with sent picks in process and in a real Redis: two campaign
batches never repeat a pick, other campaigns and plain batches are unaffected, bad campaign
names are refused, and Redis dying during campaign batches fails no RPC."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.redis_server import RedisServer
from support.servers import RunningServer, running_server

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
CUSTOMERS = [f"c{n:04d}" for n in range(0, 200, 9)] + ["newcomer"]


def picks(target: str, campaign: str = "", customers: list[str] = CUSTOMERS) -> dict[str, set[str]]:
    request = pb.RecommendBatchRequest(customer_ids=customers, limit=6, campaign=campaign)
    with grpc.insecure_channel(target) as channel:
        answers = list(Stub(channel).RecommendBatch(request, timeout=10))
    assert [answer.customer_id for answer in answers] == customers
    return {answer.customer_id: {item.item_id for item in answer.items} for answer in answers}


@pytest.fixture(params=["memory", "redis"])
def serving(request: pytest.FixtureRequest, snapshot_dir: Path) -> Iterator[RunningServer]:
    settings = {}
    if request.param == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        settings["redis_url"] = redis_server.url
    with running_server(snapshot_dir, **settings) as running:
        yield running


def test_two_campaign_batches_send_each_customer_different_picks(serving: RunningServer) -> None:
    plain = picks(serving.target)
    first = picks(serving.target, "weekly")
    second = picks(serving.target, "weekly")
    assert first == plain  # nothing sent yet: a campaign's first mail is the plain answer
    for customer in CUSTOMERS:
        assert len(first[customer]) == len(second[customer]) == 6
        assert not first[customer] & second[customer], customer
    assert picks(serving.target, "newsletter") == plain
    assert picks(serving.target) == plain
    # Recommend (single) is unaffected by any campaign.
    with grpc.insecure_channel(serving.target) as channel:
        single = Stub(channel).Recommend(pb.RecommendRequest(customer_id="c0000", limit=6))
    assert {item.item_id for item in single.items} == plain["c0000"]


def test_rotation_can_be_switched_off(snapshot_dir: Path) -> None:
    with running_server(snapshot_dir, rotation_days=0) as running:
        assert picks(running.target, "weekly") == picks(running.target, "weekly")


@pytest.mark.parametrize(
    ("campaign", "problem"),
    [
        ("   ", "must not be blank"),
        ("x" * 129, "longer than 128 bytes"),
        ("spring\n2025", "must be printable"),
    ],
)
def test_bad_campaign_names_are_refused(server: RunningServer, campaign: str, problem: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        picks(server.target, campaign)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (refused.value.details() or "")


def test_a_128_byte_campaign_name_is_accepted(server: RunningServer) -> None:
    assert len(picks(server.target, "é" * 64, ["c0001"])["c0001"]) == 6


def test_redis_dying_during_campaign_batches_fails_no_rpc(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with running_server(snapshot_dir, redis_url=redis_server.url, workers=4) as running:
        failures: list[grpc.RpcError] = []
        answered = [0]
        stop = threading.Event()

        def traffic() -> None:
            request = pb.RecommendBatchRequest(customer_ids=CUSTOMERS, limit=3, campaign="daily")
            with grpc.insecure_channel(running.target) as channel:
                stub = Stub(channel)
                while not stop.is_set():
                    try:
                        answers = list(stub.RecommendBatch(request, timeout=10))
                        assert len(answers) == len(CUSTOMERS)
                        answered[0] += 1
                    except grpc.RpcError as exc:
                        failures.append(exc)

        threads = [threading.Thread(target=traffic) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)
            redis_server.kill()
            time.sleep(0.5)
            down = answered[0]
            time.sleep(0.3)
            assert answered[0] > down  # still answering while Redis is down
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        registry = running.server.metrics.registry
        assert registry.get_sample_value("basketry_redis_errors_total", {"operation": "sent_picks"})
