"""The snapshot format: what the training job publishes and the server loads.

A snapshot directory holds one sub-directory per version plus a `LATEST` file
naming the version to serve. Each version directory is immutable and holds
`manifest.json` and one `.npy` file per array in `schema.ARRAYS`. Arrays load
memory-mapped; nothing is ever pickled (object arrays are refused).
"""

from basketry.snapshot.errors import NoSnapshotPublished, Refusal, SnapshotError
from basketry.snapshot.reader import LoadedSnapshot, load_latest, load_snapshot, read_latest_version
from basketry.snapshot.schema import ARRAYS, SCHEMA_VERSION, ArraySpec
from basketry.snapshot.writer import publish_snapshot

__all__ = [
    "ARRAYS",
    "SCHEMA_VERSION",
    "ArraySpec",
    "LoadedSnapshot",
    "NoSnapshotPublished",
    "Refusal",
    "SnapshotError",
    "load_latest",
    "load_snapshot",
    "publish_snapshot",
    "read_latest_version",
]
