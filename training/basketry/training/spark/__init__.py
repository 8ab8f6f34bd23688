"""The Spark engine of `basketry train --engine spark`: the same snapshot, computed on Spark.

Reading, cleaning and id indexing stay the local engine's (so drop counts and ids are the
same by construction); the per-line work runs as Spark jobs: `history` (per customer-item
aggregates and the repeat statistics' per-line part), `pairs` (co-occurrence counts by a
self-join of order lines), `factors` (MLlib ALS with implicit preferences). `session` starts
Spark, `lines` hands the clean lines to it and `engine` runs the stages.

Only `settings` may be imported without pyspark installed (the local engine imports it).
"""
