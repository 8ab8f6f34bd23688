"""`basketry tune` end to end: params file, printed table, published snapshot with tuning.*."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_tune import synthetic_orders

from basketry.cli.main import main
from basketry.snapshot import load_latest
from basketry.training.tuning.parameters import BY_NAME

FAST_MODEL = ["--factors", "4", "--iterations", "3", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def order_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "quantity", "timestamp"])
        for order, customer, day, items in synthetic_orders():
            for item in items.split():
                writer.writerow([order, customer, item, 1, 1_700_000_000 + day * 86_400])
    return path


def test_tune_writes_params_and_publishes_them_with_the_tuning_record(
    order_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, snapshots = tmp_path / "params.json", tmp_path / "snap"
    args = [
        "tune", "--orders", str(order_file), "--timestamp-format", "unix", "--trials", "2",
        "--seed", "3", "--out", str(out), "--snapshot-dir", str(snapshots), *FAST_MODEL,
    ]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rank  trial" in printed and "chosen (trial" in printed and "published: " in printed
    written = json.loads(out.read_text())
    settable = {key: value for key, value in written.items() if key in BY_NAME}
    assert set(settable) == set(BY_NAME)  # every value, so the file reproduces the model
    assert written["tuning.trials"] == 2 and written["tuning.seed"] == 3
    chosen, start = (
        written["tuning.validation_ndcg@10"],
        written["tuning.defaults_validation_ndcg@10"],
    )
    assert chosen >= start
    parameters = load_latest(snapshots).manifest["parameters"]
    assert {key: parameters[key] for key in written} == written
    # The params file drives training: the same values come back in a new manifest.
    retrained = tmp_path / "retrained"
    again = ["train", "--orders", str(order_file), "--timestamp-format", "unix", "--params",
             str(out), "--threads", "1", "--quiet", "--snapshot-dir", str(retrained)]  # fmt: skip
    assert main(again) == 0
    assert {k: load_latest(retrained).manifest["parameters"][k] for k in settable} == settable


def test_tune_refuses_an_unknown_params_key(
    order_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.json"
    params.write_text('{"blend.buy_again": 0.5}', encoding="utf-8")
    args = ["tune", "--orders", str(order_file), "--params", str(params), *FAST_MODEL]
    assert main(args) == 2
    assert "unknown parameter(s) blend.buy_again" in capsys.readouterr().err


def test_tune_help_says_the_test_basket_is_never_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    assert "tuning never reads it" in " ".join(capsys.readouterr().out.split())
