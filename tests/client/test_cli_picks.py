"""`basketry picks`: CSV / JSONL files, bad input, atomic output."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from support.servers import RunningServer, stub_server

from basketry.cli.main import main
from basketry.client import BasketryClient
from basketry.v1 import recommender_pb2 as pb

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.txt"
    path.write_text("c0000\nc0001\n\nstranger\nc0000\nc0007\n", encoding="utf-8")
    return path


def test_picks_to_csv_writes_one_row_per_customer_and_item(
    server: RunningServer, customers_file: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "picks.csv"
    code, stdout, stderr = run(
        capsys,
        "picks",
        "--target",
        server.target,
        "--customers",
        str(customers_file),
        "--out",
        str(out),
        "--limit",
        "3",
        "--chunk-size",
        "2",
        "--strategy",
        "discover-new",
    )
    assert code == 0, stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["customer_id", "rank", "item_id", "score", "reason", "name"]
    ids = ["c0000", "c0001", "stranger", "c0007"]
    assert [row["customer_id"] for row in rows] == [c for c in ids for _ in range(3)]
    assert [row["rank"] for row in rows] == ["1", "2", "3"] * 4
    with BasketryClient(server.target) as client:
        expected = [
            (answer.customer_id, item.item_id, item.reason.value, item.name)
            for answer in client.recommend_batch(ids, limit=3, strategy="discover-new")
            for item in answer.items
        ]
    assert [(r["customer_id"], r["item_id"], r["reason"], r["name"]) for r in rows] == expected
    assert "wrote 12 rows for 4 customers" in stdout
    assert "cold-customer 1" in stdout
    assert "skipped 1 duplicated customer id(s): c0000" in stderr
    assert "skipped 1 empty customer id(s) on line(s) 3" in stderr


def test_picks_to_jsonl_from_stdin_csv_with_json_summary(
    server: RunningServer, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("email,customer_id\na@x,c0003\nb@x,ghost\n"))
    out = tmp_path / "picks.out"
    code, stdout, stderr = run(
        capsys,
        "picks",
        "--target",
        server.target,
        "--customers",
        "-",
        "--out",
        str(out),
        "--format",
        "jsonl",
        "--limit",
        "2",
        "--campaign",
        "spring",
        "--json",
    )
    assert code == 0, stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["customer_id"] for line in lines] == ["c0003", "ghost"]
    assert [len(line["items"]) for line in lines] == [2, 2]
    assert [line["fallback"] for line in lines] == [None, "cold-customer"]
    summary = json.loads(stdout)
    assert (summary["customers"], summary["fallbacks"]) == (2, {"cold-customer": 1})
    assert summary["customers_per_second"] > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read customers file"),
        ("name,email\nx,y\n", "needs a 'customer_id' column"),
        ("\n\n", "holds no customer ids"),
    ],
)
def test_picks_bad_customer_files_are_clear_errors_and_write_nothing(
    server: RunningServer, tmp_path: Path, capsys: Capture, content: str | None, message: str
) -> None:
    customers = tmp_path / "customers.csv"
    if content is not None:
        customers.write_text(content, encoding="utf-8")
    out = tmp_path / "picks.csv"
    code, _, stderr = run(
        capsys, "picks", "--target", server.target, "--customers", str(customers), "--out", str(out)
    )
    assert code == 1
    assert stderr.startswith("basketry picks: error: ") and message in stderr
    assert not out.exists()


class FailsOnSecondChunk:
    """RecommendBatch that answers the first call and fails UNAVAILABLE from then on."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, request: pb.RecommendBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendBatchResponse]:
        self.calls += 1
        if self.calls > 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        for customer_id in request.customer_ids:
            item = pb.ScoredItem(item_id="i1", score=1.0, reason=pb.REASON_POPULAR)
            yield pb.RecommendBatchResponse(
                customer_id=customer_id, items=[item], model_version="v1"
            )


@contextmanager
def batch_only_server(batch: FailsOnSecondChunk) -> Iterator[str]:
    handler = grpc.unary_stream_rpc_method_handler(
        batch,
        request_deserializer=pb.RecommendBatchRequest.FromString,
        response_serializer=pb.RecommendBatchResponse.SerializeToString,
    )
    with stub_server("RecommendBatch", handler) as target:
        yield target


def test_picks_failing_midway_leaves_no_file(
    customers_file: Path, tmp_path: Path, capsys: Capture
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    batch = FailsOnSecondChunk()
    with batch_only_server(batch) as target:
        code, _, stderr = run(
            capsys,
            "picks",
            "--target",
            target,
            "--customers",
            str(customers_file),
            "--out",
            str(out_dir / "picks.csv"),
            "--chunk-size",
            "2",
        )
    assert code == 1 and "UNAVAILABLE" in stderr
    assert batch.calls == 4  # the first chunk, then the second one tried three times
    assert list(out_dir.iterdir()) == []


def test_picks_needs_a_known_format(customers_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["picks", "--customers", str(customers_file), "--out", str(tmp_path / "p.txt")])
    assert caught.value.code == 2
