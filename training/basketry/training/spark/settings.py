"""Where and how the Spark engine runs; importable without pyspark (the CLI and pipeline use it)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from basketry.training.errors import TrainingInputError

DEFAULT_MASTER = "local[*]"


@dataclass(frozen=True)
class SparkSettings:
    """`master`: None = whatever spark-submit or spark-defaults.conf configured, else
    DEFAULT_MASTER. `conf`: extra Spark properties (e.g. spark.driver.memory)."""

    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)


def check_spark_installed() -> None:
    """TrainingInputError naming the fix when pyspark (an optional extra) is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise TrainingInputError(
            "the Spark engine needs pyspark: pip install 'basketry[spark]' (and Java 17+)"
        )
