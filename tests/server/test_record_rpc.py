"""RecordOrders over a real server: effect on Recommend, idempotency, validation, expiry."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from support.servers import RunningServer, running_server
from support.synthetic import REFERENCE_TS, synthetic_arrays

from basketry.snapshot import publish_snapshot
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
DAY = 86_400
STRATEGIES = [pb.STRATEGY_UNSPECIFIED, pb.STRATEGY_BUY_AGAIN, pb.STRATEGY_DISCOVER_NEW]


def an_order(order_id: str, customer_id: str, *items: str, at: int | None = None) -> pb.Order:
    message = pb.Order(order_id=order_id, customer_id=customer_id)
    for item in items:
        message.lines.add(item_id=item, quantity=1.0)
    if at is not None:
        message.timestamp.seconds = at
    return message


def record(stub: Stub, *orders: pb.Order) -> tuple[int, int]:
    answer = stub.RecordOrders(pb.RecordOrdersRequest(orders=orders))
    return answer.accepted, answer.duplicates


def item_ids(answer: Any) -> list[str]:
    return [item.item_id for item in answer.items]


def counter(running: RunningServer, name: str, **labels: str) -> float:
    value = running.server.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_a_new_customers_first_order_personalises_their_picks(stub: Stub) -> None:
    request = pb.RecommendRequest(customer_id="shopper-1", limit=10)
    assert stub.Recommend(request).fallback == pb.FALLBACK_COLD_CUSTOMER
    assert record(stub, an_order("w-1", "shopper-1", "i000", "i010", "i020")) == (1, 0)
    after = stub.Recommend(request)
    assert after.fallback != pb.FALLBACK_COLD_CUSTOMER
    assert {pb.REASON_PERSONALIZED, pb.REASON_BUY_AGAIN} <= {i.reason for i in after.items}
    new = stub.Recommend(
        pb.RecommendRequest(customer_id="shopper-1", strategy=pb.STRATEGY_DISCOVER_NEW)
    )
    assert not {"i000", "i010", "i020"} & set(item_ids(new))
    assert new.items[0].reason in (pb.REASON_PERSONALIZED, pb.REASON_BOUGHT_TOGETHER)


def test_a_known_customers_picks_move(stub: Stub) -> None:
    request = pb.RecommendRequest(customer_id="c0003", limit=10, strategy=STRATEGIES[2])
    before = item_ids(stub.Recommend(request))
    record(stub, an_order("w-2", "c0003", *before[:3]))
    after = item_ids(stub.Recommend(request))
    assert not set(before[:3]) & set(after)  # bought now, so not "new"
    # Re-ranked by the folded-in vector, not just the old list moved up by three.
    assert after[:7] != before[3:]


def test_a_once_only_item_is_excluded_right_after_it_is_bought(stub: Stub) -> None:
    # i005 is once-only in the synthetic snapshot; limit 120 = every eligible item.
    for strategy in STRATEGIES:
        request = pb.RecommendRequest(customer_id="shopper-2", limit=120, strategy=strategy)
        assert "i005" in item_ids(stub.Recommend(request))
    record(stub, an_order("w-3", "shopper-2", "i005"))
    for strategy in STRATEGIES:
        request = pb.RecommendRequest(customer_id="shopper-2", limit=120, strategy=strategy)
        assert "i005" not in item_ids(stub.Recommend(request))
        batch = pb.RecommendBatchRequest(customer_ids=["shopper-2"], limit=120, strategy=strategy)
        assert all("i005" not in item_ids(answer) for answer in stub.RecommendBatch(batch))


def test_recording_is_idempotent_by_order_id(server: RunningServer, stub: Stub) -> None:
    order = an_order("w-4", "c0007", "i001", "i003")
    ask = pb.RecommendRequest(customer_id="c0007", limit=20, strategy=pb.STRATEGY_BUY_AGAIN)
    assert record(stub, order, order) == (1, 1)
    once = stub.Recommend(ask)
    assert record(stub, order) == (0, 1)
    changed = an_order("w-4", "c0007", "i050")  # same id, other content: still a duplicate
    assert record(stub, changed) == (0, 1)
    assert stub.Recommend(ask) == once  # nothing counted twice
    assert counter(server, "basketry_recorded_orders_total", outcome="accepted") == 1
    assert counter(server, "basketry_recorded_orders_total", outcome="duplicate") == 3
    assert counter(server, "basketry_recorded_orders_held") == 1


def _violations(stub: Stub, request: pb.RecordOrdersRequest) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        stub.RecordOrders(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def test_bad_orders_are_refused_with_field_violations(stub: Stub) -> None:
    good = an_order("ok", "c1", "i000")
    no_lines = pb.Order(order_id="", customer_id="x" * 257)
    bad_lines = an_order("o2", "c1", "i000", "", "i002")
    bad_lines.lines[0].quantity = math.nan
    bad_lines.lines[2].quantity = 0
    bad_lines.lines[2].price = -1
    future = an_order("o3", "c1", "i000", at=int(time.time()) + 3 * DAY)
    violations = _violations(
        stub, pb.RecordOrdersRequest(orders=[good, no_lines, bad_lines, future])
    )
    assert set(violations) == {
        "orders[1].order_id",
        "orders[1].customer_id",
        "orders[1].lines",
        "orders[2].lines[0].quantity",
        "orders[2].lines[1].item_id",
        "orders[2].lines[2].quantity",
        "orders[2].lines[2].price",
        "orders[3].timestamp",
    }
    assert "longer than 256 bytes" in violations["orders[1].customer_id"]
    assert "days after the server's clock" in violations["orders[3].timestamp"]
    assert _violations(stub, pb.RecordOrdersRequest()) == {"orders": "needs at least one order"}
    too_many = pb.RecordOrdersRequest(orders=[good] * 1001)
    assert "at most 1000" in _violations(stub, too_many)["orders"]
    long_order = an_order("o4", "c1", *["i000"] * 1001)
    assert (
        "at most 1000"
        in _violations(stub, pb.RecordOrdersRequest(orders=[long_order]))["orders[0].lines"]
    )
    # Nothing of a refused request was recorded.
    assert record(stub, good) == (1, 0)


def test_orders_expire_once_a_snapshot_that_includes_them_serves(
    snapshot_dir: Path, tmp_path: Path
) -> None:
    recorded_at = REFERENCE_TS + DAY
    with (
        running_server(snapshot_dir) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = Stub(channel)
        record(stub, an_order("w-5", "shopper-3", "i000", at=recorded_at))
        record(stub, an_order("w-6", "shopper-3", "i002"))  # now: newer than the next snapshot
        assert counter(running, "basketry_recorded_orders_held") == 2
        arrays, counts = synthetic_arrays()
        publish_snapshot(
            snapshot_dir,
            arrays,
            counts=counts,
            parameters={},
            input_info={"last_order_ts": recorded_at},
            metrics={},
        )
        deadline = time.monotonic() + 10
        while counter(running, "basketry_recorded_orders_expired_total") < 1:
            assert time.monotonic() < deadline, "the new snapshot was not swapped in"
            time.sleep(0.02)
        assert counter(running, "basketry_recorded_orders_held") == 1
        assert record(stub, an_order("w-5", "shopper-3", "i000", at=recorded_at)) == (0, 1)
        again = pb.RecommendRequest(
            customer_id="shopper-3", limit=5, strategy=pb.STRATEGY_BUY_AGAIN
        )
        answer = stub.Recommend(again)
        # w-6 still counts; w-5 is left to the snapshot (which, being synthetic, lacks it).
        assert answer.fallback != pb.FALLBACK_COLD_CUSTOMER
        buy_again = [i.item_id for i in answer.items if i.reason == pb.REASON_BUY_AGAIN]
        assert buy_again == ["i002"]


def test_orders_are_recorded_before_any_snapshot_loads(tmp_path: Path) -> None:
    with running_server(tmp_path) as running, grpc.insecure_channel(running.target) as channel:
        assert record(Stub(channel), an_order("w-7", "c1", "i000")) == (1, 0)
