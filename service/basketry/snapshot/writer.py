"""Publishes a snapshot version atomically and prunes old versions.

Publication order (so a reader never sees a partial version, even if the writer is killed
at any instant): write every file into `.tmp-<version>/`, fsync them, rename the directory
to `<version>/`, fsync the parent, then replace `LATEST` the same way. Pruning renames a
version to a `.tmp-` name before deleting it, so a version directory is only ever complete.

Readers ignore dot-entries. What a killed writer leaves behind (a `.tmp-` directory or
LATEST file) is removed by the next successful publish once nothing in it has changed for
STALE_TEMP_SECONDS: a live writer keeps touching its temp directory (it writes file after
file; the longest quiet spell is hashing the file just written), so a concurrent publish
into the same directory never loses its temp directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from basketry.snapshot.errors import SnapshotError
from basketry.snapshot.schema import ARRAYS, LATEST_NAME, MANIFEST_NAME, SCHEMA_VERSION
from basketry.snapshot.validation import check_arrays, sha256_file

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600


def publish_snapshot(
    snapshot_dir: Path,
    arrays: Mapping[str, np.ndarray],
    *,
    counts: Mapping[str, int],
    parameters: Mapping[str, Any],
    input_info: Mapping[str, Any],
    metrics: Mapping[str, float],
    keep: int = 5,
) -> Path:
    """Write a new version, point LATEST at it, keep the newest `keep` versions.

    `counts` must hold at least schema.REQUIRED_COUNTS. Returns the version directory.
    """
    if keep < 1:
        raise SnapshotError("keep must be at least 1")
    check_arrays(arrays, counts)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    temp_dir = snapshot_dir / f"{TEMP_PREFIX}{stamp}-{os.getpid()}-{time.monotonic_ns()}"
    temp_dir.mkdir()
    try:
        files = {name: _write_array(temp_dir, name, arrays[name]) for name in ARRAYS}
        digest = hashlib.sha256("".join(f["sha256"] for f in files.values()).encode()).hexdigest()
        version = _unused_version_name(snapshot_dir, f"{stamp}-{digest[:8]}")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "version": version,
            "created_at": created.isoformat(),
            "counts": dict(counts),
            "parameters": dict(parameters),
            "input": dict(input_info),
            "metrics": dict(metrics),
            "files": files,
        }
        _write_durable(
            temp_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True).encode()
        )
        _fsync_dir(temp_dir)
        version_dir = snapshot_dir / version
        temp_dir.rename(version_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    _fsync_dir(snapshot_dir)
    point_latest(snapshot_dir, version)
    prune_versions(snapshot_dir, keep=keep)
    return version_dir


def point_latest(snapshot_dir: Path, version: str) -> None:
    """Atomically make `version` the one servers load."""
    if not (snapshot_dir / version / MANIFEST_NAME).is_file():
        raise SnapshotError(
            f"cannot point LATEST at {version!r}: no such version in {snapshot_dir}"
        )
    temp = snapshot_dir / f"{TEMP_PREFIX}{LATEST_NAME}-{os.getpid()}-{time.monotonic_ns()}"
    _write_durable(temp, f"{version}\n".encode())
    temp.replace(snapshot_dir / LATEST_NAME)
    _fsync_dir(snapshot_dir)


def list_versions(snapshot_dir: Path) -> list[str]:
    """Published versions, oldest first (names sort by creation time).

    A symlink is not a version (servers refuse one: it could lead outside the directory).
    """
    return sorted(
        p.name
        for p in snapshot_dir.iterdir()
        if p.is_dir()
        and not p.is_symlink()
        and not p.name.startswith(".")
        and (p / MANIFEST_NAME).is_file()
    )


def prune_versions(snapshot_dir: Path, *, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions (never the one LATEST names), and what
    killed publishes left behind (see the module docstring)."""
    latest_file = snapshot_dir / LATEST_NAME
    latest = latest_file.read_text().strip() if latest_file.exists() else ""
    versions = list_versions(snapshot_dir)
    doomed = [v for v in versions[: max(0, len(versions) - keep)] if v != latest]
    for version in doomed:
        # Hidden first: a kill during the delete leaves a .tmp- entry, not half a version.
        # Servers memory-map their arrays, so a version still mapped stays readable.
        hidden = snapshot_dir / f"{TEMP_PREFIX}pruned-{version}-{time.monotonic_ns()}"
        (snapshot_dir / version).rename(hidden)
        shutil.rmtree(hidden)
        log.info("pruned snapshot version %s", version)
    _remove_stale_temp_entries(snapshot_dir)
    return doomed


def _remove_stale_temp_entries(snapshot_dir: Path) -> None:
    """Delete the `.tmp-` entries nothing has changed in for STALE_TEMP_SECONDS."""
    now = time.time()
    for entry in snapshot_dir.glob(f"{TEMP_PREFIX}*"):
        try:
            if now - _last_change(entry) <= STALE_TEMP_SECONDS:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # renamed by its (live) writer or removed by another publish meanwhile
        log.info("removed %s, left by an interrupted publish", entry.name)


def _last_change(entry: Path) -> float:
    """Newest modification time of `entry` and, for a directory, of the files in it."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for child in entry.iterdir():
            newest = max(newest, child.lstat().st_mtime)
    return newest


def _write_array(directory: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    path = directory / f"{name}.npy"
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
    }


def _write_durable(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unused_version_name(snapshot_dir: Path, base: str) -> str:
    name, n = base, 1
    while (snapshot_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name
