"""`basketry train --engine spark` against the local engine on the same synthetic history.

Needs pyspark (the spark extra) and Java: skipped with the reason when either is missing,
except under CI=true, where a missing one fails the run. One Spark session (local[2]) serves
the whole module; the engine joins it instead of starting its own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from basketry.cli.main import main
from basketry.server.model import build_model
from basketry.snapshot import LoadedSnapshot, load_latest
from basketry.training.generate import GeneratorSpec, generate
from basketry.training.progress import Stages

# Small enough for seconds of Spark work, big enough for pairs, repeats and categories.
SPEC = GeneratorSpec(
    order_lines=12_000, customers=600, items=250, categories=12, bundles=20, days=180, seed=7
)
ALS_FLAGS = ["--factors", "16", "--iterations", "10", "--threads", "1"]
EXACT_ARRAYS = (
    "customer_ids",
    "item_ids",
    "item_names",
    "item_categories",
    "item_prices",
    "item_buyers",
    "item_orders",
    "customer_orders",
    "history_indptr",
    "history_items",
    "history_orders",
    "history_quantity",
    "history_last_ts",
    "history_confidence",
    "pairs_indptr",
    "pairs_partner",
    "pairs_count",
    "pairs_expected",
    "pairs_score",
)
# Floating-point sums in another order, and MLlib's pow vs numpy's: equal to rounding.
CLOSE_ARRAYS = ("history_recent_share", "item_repeat_probability", "item_repeat_cycle_days")


def _missing_spark() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'basketry[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java (java on PATH or JAVA_HOME) for Spark"
    return None


@pytest.fixture(scope="module")
def spark_session() -> Iterator[object]:
    missing = _missing_spark()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Spark engine tests must run in CI: {missing}", pytrace=False)
        pytest.skip(missing)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("basketry-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def history_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("history")
    generated = generate(SPEC, Stages(quiet=True))
    orders, catalog = folder / "orders.parquet", folder / "catalog.parquet"
    generated.orders.write_parquet(orders)
    generated.catalog.write_parquet(catalog)
    return orders, catalog


def _train(files: tuple[Path, Path], snapshot_dir: Path, *engine: str) -> LoadedSnapshot:
    orders, catalog = files
    argv = ["train", "--orders", str(orders), "--catalog", str(catalog)]
    code = main([*argv, "--snapshot-dir", str(snapshot_dir), "--quiet", *ALS_FLAGS, *engine])
    assert code == 0
    return load_latest(snapshot_dir)


@pytest.fixture(scope="module")
def both_engines(
    spark_session: object,
    history_files: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[LoadedSnapshot, LoadedSnapshot]:
    local = _train(history_files, tmp_path_factory.mktemp("local"))
    spark = _train(history_files, tmp_path_factory.mktemp("spark"), "--engine", "spark")
    return local, spark


def test_spark_engine_gives_the_same_ids_history_and_pairs(
    both_engines: tuple[LoadedSnapshot, LoadedSnapshot],
) -> None:
    local, spark = both_engines
    assert local.arrays["pairs_count"].shape[0] > 100  # the history has pairs to compare
    assert local.arrays["item_repeat_cycle_days"].shape[0] == SPEC.items
    for name in EXACT_ARRAYS:
        np.testing.assert_array_equal(spark.arrays[name], local.arrays[name], err_msg=name)
    np.testing.assert_array_equal(spark.arrays["item_once_only"], local.arrays["item_once_only"])
    for name in CLOSE_ARRAYS:
        np.testing.assert_allclose(
            spark.arrays[name], local.arrays[name], rtol=1e-5, equal_nan=True, err_msg=name
        )
    assert spark.manifest["counts"] == local.manifest["counts"]
    assert spark.manifest["input"] == local.manifest["input"]


def test_spark_engine_records_itself_in_the_manifest(
    both_engines: tuple[LoadedSnapshot, LoadedSnapshot],
) -> None:
    local, spark = both_engines
    assert local.manifest["parameters"]["engine"] == "local"
    assert spark.manifest["parameters"]["engine"] == "spark"
    assert spark.manifest["parameters"]["spark.master"] == "local[2]"
    without_engine = {
        key: value
        for key, value in spark.manifest["parameters"].items()
        if key != "engine" and not key.startswith("spark.")
    }
    assert without_engine == {
        key: value for key, value in local.manifest["parameters"].items() if key != "engine"
    }


def test_spark_factors_recommend_broadly_what_the_local_ones_do(
    both_engines: tuple[LoadedSnapshot, LoadedSnapshot],
) -> None:
    local, spark = both_engines
    for name in ("customer_factors", "item_factors"):
        assert spark.arrays[name].shape == local.arrays[name].shape
        assert spark.arrays[name].dtype == np.float32
        assert np.isfinite(spark.arrays[name]).all()
    overlap = _top10_overlap(local, spark)
    # Popularity alone is the bar to beat: factors that learned nothing would only agree
    # with each other as far as both rank best sellers first.
    popular = np.argsort(-local.arrays["item_buyers"], kind="stable")[:10]
    by_popularity = np.mean([len(set(popular) & set(row)) / 10 for row in _top10(local)])
    assert overlap >= 0.5, overlap
    assert overlap > by_popularity + 0.1, (overlap, by_popularity)


def test_spark_snapshot_loads_in_the_server(
    both_engines: tuple[LoadedSnapshot, LoadedSnapshot],
) -> None:
    _, spark = both_engines
    model = build_model(spark)
    assert model.n_customers == spark.manifest["counts"]["customers"]
    assert model.n_items == spark.manifest["counts"]["items"]


def test_spark_options_without_the_spark_engine_are_refused(
    history_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders, _ = history_files
    argv = ["train", "--orders", str(orders), "--snapshot-dir", str(tmp_path / "snap")]
    assert main([*argv, "--spark-master", "local[2]"]) == 2
    assert "--spark-master and --spark-conf need --engine spark" in capsys.readouterr().err
    assert not (tmp_path / "snap").exists()


def test_the_local_engine_does_not_import_pyspark() -> None:
    code = (
        "import sys; import basketry.training.cli, basketry.training.pipeline; "
        "sys.exit('pyspark' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _top10(snapshot: LoadedSnapshot) -> np.ndarray:
    scores = snapshot.arrays["customer_factors"] @ snapshot.arrays["item_factors"].T
    return np.argsort(-scores, axis=1, kind="stable")[:, :10]


def _top10_overlap(first: LoadedSnapshot, second: LoadedSnapshot) -> float:
    pairs = zip(_top10(first), _top10(second), strict=True)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in pairs]))
