"""`basketry export-orders`: orders recorded through gRPC into Redis come out as an order file
that `basketry train` reads without mapping, next to the shop's own history."""

from __future__ import annotations

import csv
import gzip
import socket
from pathlib import Path

import grpc
import numpy as np
import pytest
from support.redis_server import RedisServer
from support.servers import running_server

from basketry.cli.main import main
from basketry.server.export import COLUMNS
from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

PLACED = 1_750_000_000  # 2025-06-15 15:06:40 UTC: after the synthetic history


def an_order(order_id: str, customer_id: str, lines: list[tuple[str, float]]) -> pb.Order:
    message = pb.Order(order_id=order_id, customer_id=customer_id)
    message.timestamp.seconds = PLACED
    for item_id, quantity in lines:
        message.lines.add(item_id=item_id, quantity=quantity, price=2.5)
    return message


RECORDED = [
    an_order("web-1", "shopper-1", [("i001", 2.0), ("i002", 1.0)]),
    an_order("web-2", "shopper-1", [("i003", 1.5)]),
    an_order("web-3", "c0007", [("i001", 1.0), ("i004", 3.0)]),
]


def record(redis_url: str, snapshot_dir: Path, orders: list[pb.Order]) -> int:
    """Record `orders` through a real server keeping them in Redis; returns how many counted."""
    with (
        running_server(snapshot_dir, redis_url=redis_url) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        return stub.RecordOrders(pb.RecordOrdersRequest(orders=orders), timeout=5).accepted


def read_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def shop_history(path: Path) -> Path:
    """The shop's own order file: 30 customers buying among i000..i019 in 2024."""
    rng = np.random.default_rng(3)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for order in range(120):
            customer = f"c{order % 30:04d}"
            placed = f"2024-0{1 + order % 9}-1{order % 10} 10:00:00"
            for item in rng.choice(20, size=3, replace=False):
                writer.writerow([f"shop-{order}", customer, f"i{item:03d}", "1", placed, "1.0"])
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_recorded_orders_round_trip_into_training(
    redis_server: RedisServer, snapshot_dir: Path, tmp_path: Path, suffix: str
) -> None:
    assert record(redis_server.url, snapshot_dir, RECORDED) == 3
    exported = tmp_path / f"recorded{suffix}"
    assert main(["export-orders", "--redis-url", redis_server.url, "--out", str(exported)]) == 0

    rows = read_rows(exported)
    assert sorted((r["order_id"], r["item_id"], r["quantity"]) for r in rows) == [
        ("web-1", "i001", "2"),
        ("web-1", "i002", "1"),
        ("web-2", "i003", "1.5"),
        ("web-3", "i001", "1"),
        ("web-3", "i004", "3"),
    ]
    assert {r["timestamp"] for r in rows} == {"2025-06-15 15:06:40"}
    assert {r["price"] for r in rows} == {"2.5"}
    assert not list(tmp_path.glob(".*.tmp")), "the temporary file was left behind"

    snapshots = tmp_path / "trained"
    argv = ["train", "--orders", str(shop_history(tmp_path / "shop.csv"))]
    argv += ["--orders", str(exported), "--snapshot-dir", str(snapshots), "--quiet"]
    assert main([*argv, "--factors", "4", "--iterations", "2", "--threads", "1"]) == 0

    snapshot = load_latest(snapshots)
    assert snapshot.manifest["input"]["last_order_ts"] == PLACED
    customers = [str(c) for c in snapshot.arrays["customer_ids"]]
    items = [str(i) for i in snapshot.arrays["item_ids"]]
    indptr, columns = snapshot.arrays["history_indptr"], snapshot.arrays["history_items"]
    quantity = snapshot.arrays["history_quantity"]

    def bought(customer: str) -> dict[str, float]:
        row = customers.index(customer)
        cells = range(indptr[row], indptr[row + 1])
        return {items[columns[k]]: float(quantity[k]) for k in cells}

    # A customer only the recorded orders know, and one known to both files.
    assert bought("shopper-1") == {"i001": 2.0, "i002": 1.0, "i003": 1.5}
    assert bought("c0007")["i004"] >= 3.0


def test_since_leaves_out_older_orders(
    redis_server: RedisServer, snapshot_dir: Path, tmp_path: Path
) -> None:
    older = an_order("web-0", "shopper-0", [("i009", 1.0)])
    older.timestamp.seconds = PLACED - 10
    assert record(redis_server.url, snapshot_dir, [older, RECORDED[2]]) == 2
    exported = tmp_path / "recent.csv"
    argv = ["export-orders", "--redis-url", redis_server.url, "--out", str(exported)]
    assert main([*argv, "--since", str(PLACED - 1)]) == 0
    assert {r["order_id"] for r in read_rows(exported)} == {"web-3"}


def test_an_unreachable_redis_fails_clearly_and_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it
    exported = tmp_path / "recorded.csv"
    exported.write_text("previous export\n")
    argv = ["export-orders", "--redis-url", f"redis://127.0.0.1:{port}/0", "--out", str(exported)]
    assert main([*argv, "--redis-timeout", "0.5"]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert exported.read_text() == "previous export\n"
    assert list(tmp_path.iterdir()) == [exported]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--redis-url", "redis://127.0.0.1:1/0", "--out", "orders.json"], ".csv or .csv.gz"),
        (["--out", "orders.csv"], "--redis-url"),
    ],
)
def test_bad_arguments_are_refused(
    extra: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("BASKETRY_REDIS_URL", raising=False)
    assert main(["export-orders", *extra]) == 2
    assert message in capsys.readouterr().err
