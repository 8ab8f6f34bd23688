"""The one-question client commands through `basketry.cli.main.main`, human and --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import RunningServer, running_server

from basketry.cli.main import main

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_recommend_prints_a_table(server: RunningServer, capsys: Capture) -> None:
    code, out, _ = run(
        capsys,
        "recommend",
        "--target",
        server.target,
        "--customer",
        "c0000",
        "--limit",
        "3",
        "--explain",
    )
    assert code == 0
    header, columns, *rows = out.splitlines()
    assert header.startswith("customer c0000 · balanced · model ")
    # Explained: the repurchase facts follow (the synthetic cycle is 30 days, or unknown).
    assert columns.split() == [
        "rank",
        "item",
        "name",
        "score",
        "reason",
        "because",
        "repeat",
        "p",
        "cycle",
        "days",
    ]
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]
    assert all(row.split()[-1] in ("30", "-") for row in rows)
    assert all("Item " in row for row in rows)


def test_recommend_json_with_filters(server: RunningServer, capsys: Capture) -> None:
    code, out, _ = run(
        capsys,
        "recommend",
        "--target",
        server.target,
        "--customer",
        "stranger",
        "--limit",
        "4",
        "--json",
        "--exclude",
        "i000",
        "i001",
        "--in-stock",
        "--strategy",
        "discover-new",
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["fallback"] == "cold-customer"
    assert len(answer["items"]) == 4
    assert {item["reason"] for item in answer["items"]} == {"popular"}
    assert not {"i000", "i001"} & {item["item_id"] for item in answer["items"]}


def test_bundle_similar_and_lookalike(server: RunningServer, capsys: Capture) -> None:
    code, out, _ = run(capsys, "bundle", "--target", server.target, "--item", "i000", "--json")
    assert code == 0 and "i001" in {item["item_id"] for item in json.loads(out)["items"]}
    code, out, _ = run(capsys, "bundle", "--target", server.target, "--item", "i000", "i002")
    assert code == 0 and out.startswith("bought with i000, i002 · model ")
    assert "confidence" in out.splitlines()[1]

    code, out, _ = run(
        capsys, "similar-items", "--target", server.target, "--item", "i004", "--limit", "2"
    )
    assert code == 0 and len(out.splitlines()) == 4
    code, out, _ = run(
        capsys, "similar-customers", "--target", server.target, "--customer", "c0004", "--json"
    )
    assert code == 0 and len(json.loads(out)["customers"]) == 10

    code, out, _ = run(
        capsys,
        "lookalike",
        "--target",
        server.target,
        "--seed-customer",
        "c0001",
        "--seed-item",
        "i003",
        "--limit",
        "5",
        "--json",
    )
    audience = json.loads(out)
    assert code == 0 and audience["seed_size"] >= 1 and len(audience["customers"]) == 5


def test_model_info(server: RunningServer, capsys: Capture) -> None:
    code, out, _ = run(capsys, "model-info", "--target", server.target, "--json")
    info = json.loads(out)
    assert code == 0 and info["counts"]["customers"] == 200
    code, out, _ = run(capsys, "model-info", "--target", server.target)
    assert code == 0 and out.startswith(f"model {info['model_version']} · created ")
    assert "als.factors" in out


def test_server_errors_are_one_line_and_exit_1(server: RunningServer, capsys: Capture) -> None:
    code, out, err = run(
        capsys, "similar-customers", "--target", server.target, "--customer", "ghost"
    )
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("basketry similar-customers: error: NOT_FOUND")


def test_unavailable_server_error_suggests_a_cause(tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "empty").mkdir()
    with running_server(tmp_path / "empty") as empty:
        code, _, err = run(capsys, "model-info", "--target", empty.target)
    assert code == 1
    assert "UNAVAILABLE" in err and "is `basketry serve` running" in err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["recommend"],
        ["recommend", "--customer", "c1", "--limit", "0"],
        ["recommend", "--customer", "c1", "--strategy", "sideways"],
        ["lookalike"],
        ["bundle"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage: basketry" in capsys.readouterr().err


def test_recommend_as_a_real_process(server: RunningServer) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "basketry.cli.main",
            "recommend",
            "--customer",
            "c0002",
            "--limit",
            "2",
            "--json",
        ],
        env={**os.environ, "BASKETRY_TARGET": server.target},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [item["item_id"] for item in json.loads(result.stdout)["items"]]
