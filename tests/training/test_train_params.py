"""`--params FILE`: manifest-named parameters set the defaults, flags given win, typos refused."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from basketry.training import cli as training_cli
from basketry.training.errors import TrainingInputError
from basketry.training.tuning.parameters import DEFAULTS, PARAMETERS, values_of
from basketry.training.tuning.params_file import read_params_file, write_params_file

FAST = ["--iterations", "2", "--threads", "1"]
TrainRunner = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    training_cli.configure("train", parser)
    return parser.parse_args(["--orders", "o.csv", "--snapshot-dir", "snap", *argv])


def test_the_file_sets_values_and_flags_given_win(tmp_path: Path) -> None:
    params = write_json(
        tmp_path / "p.json",
        {"als.factors": 8, "blend.buy_again_weight": 0.7, "repurchase.prior_strength": 12},
    )
    args = parsed("--params", str(params), "--factors", "16", "--copurchase-weight", "0.2")
    config = training_cli.config_from_args(args, snapshot_dir=tmp_path)
    assert config.als.factors == 16  # flag beats file
    assert config.blend.buy_again_weight == 0.7  # file beats default
    assert config.repurchase.prior_strength == 12.0
    assert config.blend.copurchase_weight == 0.2  # flag beats default
    assert config.rules.min_pair_count == DEFAULTS["rules.min_pair_count"]  # neither: default


def test_without_a_file_every_parameter_is_its_default(tmp_path: Path) -> None:
    config = training_cli.config_from_args(parsed(), snapshot_dir=tmp_path)
    assert values_of(config) == DEFAULTS
    assert DEFAULTS["als.factors"] == 64 and DEFAULTS["repurchase.prior_strength"] is None


def test_every_parameter_round_trips_through_a_file_and_its_flag(tmp_path: Path) -> None:
    # A distinct legal value per parameter, so a mix-up between two of them shows.
    values: dict[str, int | float | None] = {}
    for number, parameter in enumerate(PARAMETERS, start=1):
        values[parameter.name] = number if parameter.kind is int else round(number / 100, 2)
    path = tmp_path / "p.json"
    write_params_file(path, values, {"tuning.seed": 7})
    read = read_params_file(path)
    assert read.values == values and read.tuning == {"tuning.seed": 7}
    from_file = training_cli.config_from_args(parsed("--params", str(path)), snapshot_dir=tmp_path)
    assert values_of(from_file) == values
    flags = [item for p in PARAMETERS for item in (p.flag, str(values[p.name]))]
    from_flags = training_cli.config_from_args(parsed(*flags), snapshot_dir=tmp_path)
    assert values_of(from_flags) == values


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"als.factor": 8}, "unknown parameter(s) als.factor"),
        ({"confidence.weighting": "x"}, "unknown parameter(s) confidence.weighting"),
        ({"als.factors": 0}, "als.factors must be >= 1, got 0"),
        ({"als.factors": 8.5}, "als.factors must be a whole number"),
        ({"blend.buy_again_weight": "high"}, "must be a number"),
        ({"als.factors": None}, "must be a number"),
        ({"tuning.trials": [1, 2]}, "tuning.trials must be a JSON scalar"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_a_bad_params_file_is_refused_with_the_reason(
    tmp_path: Path, document: Any, fragment: str
) -> None:
    path = write_json(tmp_path / "p.json", document)
    with pytest.raises(TrainingInputError) as caught:
        read_params_file(path)
    assert fragment in str(caught.value) and str(path) in str(caught.value)


def test_train_publishes_the_file_values_and_its_tuning_record(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path
) -> None:
    params = write_json(
        tmp_path / "p.json",
        {"als.factors": 3, "buy_again.due_weight": 0.25, "tuning.seed": 7},
    )
    run = train(
        "--orders", str(small_orders_csv), "--params", str(params), "--due-weight", "0.75",
        "--on-bad-rows", "skip", *FAST, fast=False,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    manifest = run.snapshot().manifest["parameters"]
    assert manifest["als.factors"] == 3
    assert manifest["buy_again.due_weight"] == 0.75
    assert manifest["tuning.seed"] == 7


def test_train_refuses_an_unknown_key_with_exit_2(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path
) -> None:
    params = write_json(tmp_path / "p.json", {"als.factorz": 3})
    run = train("--orders", str(small_orders_csv), "--params", str(params))
    assert run.code == 2
    assert run.stderr.startswith("basketry train: error: params file")
    assert "als.factorz" in run.stderr
    assert not (run.snapshot_dir / "LATEST").exists()


def test_a_missing_params_file_is_exit_2(
    train: TrainRunner, small_orders_csv: Path, tmp_path: Path
) -> None:
    run = train("--orders", str(small_orders_csv), "--params", str(tmp_path / "none.json"))
    assert run.code == 2 and "cannot read params file" in run.stderr
