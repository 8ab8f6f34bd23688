"""The one error a snapshot can raise."""


class SnapshotError(Exception):
    """A snapshot cannot be written or is not fit to serve (missing, corrupt, wrong schema)."""
