"""The one error a snapshot can raise, and why a version was refused."""

from enum import StrEnum


class Refusal(StrEnum):
    """Why a snapshot version is not fit to serve: the `reason` label of
    basketry_snapshot_load_failures_total, and part of the server's log line."""

    LATEST = "latest"  # LATEST unreadable, too long or not a plain version name
    MISSING_FILE = "missing_file"  # no version directory, manifest or array file
    UNSAFE_PATH = "unsafe_path"  # a symlink or special file, or a name outside the version
    MANIFEST = "manifest"  # not a JSON object, keys missing or of the wrong type
    SCHEMA_VERSION = "schema_version"  # written for another schema version
    CHECKSUM = "checksum"  # a file's bytes differ from its sha256 in the manifest
    ARRAY = "array"  # not a plain .npy (object arrays), or dtype/shape/values off the schema
    INDEX = "index"  # a vector index whose bytes are not a USearch index of the factors
    OTHER = "other"  # anything else while loading or warming up (a bug: see the log)


class SnapshotError(Exception):
    """A snapshot cannot be written or is not fit to serve (missing, corrupt, wrong schema)."""

    def __init__(self, message: str, reason: Refusal = Refusal.OTHER) -> None:
        super().__init__(message)
        self.reason = reason


class NoSnapshotPublished(SnapshotError):
    """LATEST does not exist: nothing was published yet (a state, not a refusal)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Refusal.LATEST)
