"""A real `basketry serve` process logging JSON at INFO: every line parses, lines written
while handling an RPC carry its request id, and no customer id reaches the log, whether
the call succeeds, records orders, streams, or fails with INVALID_ARGUMENT or NOT_FOUND."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.synthetic import REFERENCE_TS, customer_id

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

Stub = recommender_pb2_grpc.RecommenderServiceStub
CUSTOMER = "zq-cust-7731-distinctive"
STARTUP_DEADLINE = 120.0
LISTENING = re.compile(r"basketry server listening on 127\.0\.0\.1:(\d+)")
# gRPC's C core writes its own lines to stderr (e.g. "E1122 23:50:27.43 ... file.cc:409]").
GRPC_CORE_LINE = re.compile(r"^[EWID]\d{4} ")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_port(self) -> int:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = LISTENING.search(line)
                if match:
                    return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail("the server did not start:\n" + "\n".join(self.lines))


@contextmanager
def serve_process(snapshot_dir: Path) -> Iterator[ServerProcess]:
    """`basketry serve` logging JSON at INFO (format and level from the environment)."""
    command = [
        sys.executable,
        "-m",
        "basketry.cli.main",
        "serve",
        "--snapshot-dir",
        str(snapshot_dir),
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--grace",
        "0",
    ]
    environment = {**os.environ, "BASKETRY_LOG_FORMAT": "json", "BASKETRY_LOG_LEVEL": "INFO"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environment)
    running = ServerProcess(process)
    reader = threading.Thread(target=running.read, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)


def order(order_id: str, at: int | None = None) -> pb.Order:
    message = pb.Order(
        order_id=order_id, customer_id=CUSTOMER, lines=[pb.OrderLine(item_id="i001", quantity=1)]
    )
    if at is not None:
        message.timestamp.seconds = at
    return message


def every_kind_of_call(stub: Stub) -> None:
    def tagged(name: str) -> Any:
        return (("x-request-id", name),)

    stub.Recommend(pb.RecommendRequest(customer_id=CUSTOMER), metadata=tagged("cold"))
    stub.RecordOrders(pb.RecordOrdersRequest(orders=[order("o-new")]), metadata=tagged("record"))
    # An order older than the snapshot's data is logged (at INFO) as already in it.
    old = pb.RecordOrdersRequest(orders=[order("o-old", at=REFERENCE_TS - 86_400)])
    stub.RecordOrders(old, metadata=tagged("record-old"))
    stub.Recommend(pb.RecommendRequest(customer_id=CUSTOMER), metadata=tagged("warm"))
    batch = pb.RecommendBatchRequest(customer_ids=[customer_id(1), CUSTOMER], campaign="spring")
    assert len(list(stub.RecommendBatch(batch, metadata=tagged("batch")))) == 2
    with pytest.raises(grpc.RpcError) as refused:
        stub.Recommend(pb.RecommendRequest(customer_id=CUSTOMER, limit=100_000))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as unknown:
        stub.SimilarCustomers(pb.SimilarCustomersRequest(customer_id=CUSTOMER))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert CUSTOMER in (unknown.value.details() or "")  # the caller is told, the log is not


def test_no_customer_id_in_the_json_log_at_info(snapshot_dir: Path) -> None:
    with serve_process(snapshot_dir) as server:
        port = server.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            every_kind_of_call(Stub(channel))
    assert server.process.returncode == 0, "\n".join(server.lines)
    output = "\n".join(server.lines)
    assert CUSTOMER not in output
    entries = [json.loads(line) for line in server.lines if not GRPC_CORE_LINE.match(line)]
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    assert any(entry["message"].startswith("serving snapshot") for entry in entries)
    in_rpc = [entry for entry in entries if "request_id" in entry]
    assert [entry["message"].split(":")[0] for entry in in_rpc] == ["RecordOrders"]
    assert in_rpc[0]["request_id"] == "record-old"
    assert entries[-1]["message"].startswith("basketry server on 127.0.0.1")  # stopped
