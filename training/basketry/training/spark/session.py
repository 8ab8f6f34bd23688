"""Starts (or joins) the Spark session the engine runs in, with a clear error when it cannot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkConf
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from basketry.training.errors import TrainingInputError
from basketry.training.spark.settings import DEFAULT_MASTER, SparkSettings

APP_NAME = "basketry-train"
# Each job here shuffles a modest, bounded amount per stage; Spark's default of 200 shuffle
# partitions is tuned for clusters and costs seconds of task overhead on a local master.
# Adaptive execution still coalesces or splits these as the data needs.
LOCAL_SHUFFLE_PARTITIONS = "8"


@contextmanager
def spark_session(settings: SparkSettings) -> Iterator[SparkSession]:
    """The active session if there is one (spark-submit, a notebook, a test module's), left
    running; else a new one from `settings`, stopped on exit."""
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    session = _start(settings)
    try:
        yield session
    finally:
        session.stop()


def _start(settings: SparkSettings) -> SparkSession:
    builder = SparkSession.builder.appName(APP_NAME)
    master = settings.master
    if master is None and not SparkConf().contains("spark.master"):
        master = DEFAULT_MASTER  # not launched by spark-submit, no spark-defaults.conf entry
    if master is not None:
        builder = builder.master(master)
    conf = dict(settings.conf)
    # The engine logs its own stages; Spark's console progress bar would garble them.
    conf.setdefault("spark.ui.showConsoleProgress", "false")
    if (master or "").startswith("local"):
        conf.setdefault("spark.sql.shuffle.partitions", LOCAL_SHUFFLE_PARTITIONS)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except (PySparkException, OSError) as exc:
        raise TrainingInputError(
            f"cannot start Spark (master {master or 'from spark-submit'}): {exc}; the Spark "
            "engine needs Java 17+ (java on PATH or JAVA_HOME)"
        ) from exc
    session.sparkContext.setLogLevel("WARN")
    return session
