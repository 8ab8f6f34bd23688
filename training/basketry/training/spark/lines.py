"""Hands the clean, indexed order lines to Spark as a cached DataFrame."""

from __future__ import annotations

import polars as pl
from pyspark.sql import DataFrame, SparkSession

from basketry.training.matrices import IndexedLines

# What every Spark job of the engine reads: integer indexes, units and unix seconds.
LINE_COLUMNS = ("customer_idx", "item_idx", "order_idx", "quantity", "ts")


def lines_frame(session: SparkSession, indexed: IndexedLines) -> DataFrame:
    """The lines as a cached Spark DataFrame (through Arrow: no per-row Python objects)."""
    table = indexed.lines.select(LINE_COLUMNS).to_arrow()
    return session.createDataFrame(table).cache()


def collect(frame: DataFrame) -> pl.DataFrame:
    """A (bounded) Spark result on the driver, through Arrow."""
    result = pl.from_arrow(frame.toArrow())
    if not isinstance(result, pl.DataFrame):
        raise TypeError("Spark returned a column, not a table")  # toArrow always gives a table
    return result
