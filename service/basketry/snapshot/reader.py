"""Loads a published snapshot version, refusing anything that does not verify."""

from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from basketry.snapshot.announce import VERSION_PATTERN
from basketry.snapshot.errors import NoSnapshotPublished, Refusal, SnapshotError
from basketry.snapshot.schema import ARRAYS, LATEST_NAME, MANIFEST_NAME, SCHEMA_VERSION
from basketry.snapshot.validation import check_arrays, check_counts, sha256_file

# LATEST holds one version name and a manifest a few kilobytes: anything far larger is
# neither, and is not read into memory whole.
MAX_LATEST_BYTES = 1024
MAX_MANIFEST_BYTES = 1 << 20
CHECKSUM_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class LoadedSnapshot:
    """A verified snapshot version: its manifest and memory-mapped arrays."""

    version: str
    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])


def read_latest_version(snapshot_dir: Path) -> str:
    """The version name LATEST points at.

    NoSnapshotPublished if there is no LATEST; SnapshotError (reason latest) if it cannot be
    read or does not hold one plain version name (never a path: see VERSION_PATTERN).
    """
    latest = snapshot_dir / LATEST_NAME
    try:
        if not stat.S_ISREG(os.stat(latest).st_mode):
            # A FIFO would block the reader forever, a device could be endless.
            raise SnapshotError(f"{latest} is not a regular file", Refusal.LATEST)
        with latest.open("rb") as handle:
            raw = handle.read(MAX_LATEST_BYTES + 1)
    except FileNotFoundError:
        raise NoSnapshotPublished(f"no snapshot published yet: {latest} does not exist") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read {latest}: {exc}", Refusal.LATEST) from exc
    if len(raw) > MAX_LATEST_BYTES:
        raise SnapshotError(
            f"{latest} is longer than {MAX_LATEST_BYTES} bytes: not a version name",
            Refusal.LATEST,
        )
    try:
        version = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SnapshotError(f"{latest} is not UTF-8 text", Refusal.LATEST) from None
    if not _is_version_name(version):
        raise SnapshotError(f"LATEST names an invalid version {version[:200]!r}", Refusal.LATEST)
    return version


def load_latest(snapshot_dir: Path, *, verify_checksums: bool = True) -> LoadedSnapshot:
    """Load the version LATEST points at."""
    return load_snapshot(
        snapshot_dir / read_latest_version(snapshot_dir), verify_checksums=verify_checksums
    )


def load_snapshot(version_dir: Path, *, verify_checksums: bool = True) -> LoadedSnapshot:
    """Load and verify one version directory (checksums, schema version, dtypes, shapes).

    Only regular files directly inside a real (not symlinked) version directory are read,
    under the names the schema fixes. Arrays are memory-mapped read-only, never unpickled.
    Checksums read every byte once (the integrity check is worth it: a server refuses a
    damaged version before serving from it); files are hashed on up to CHECKSUM_THREADS
    threads (hashlib releases the GIL), about 1 GB/s per core. Every SnapshotError carries
    the Refusal reason.
    """
    _check_version_dir(version_dir)
    manifest = _read_manifest(version_dir)
    files: dict[str, dict[str, Any]] = manifest["files"]
    paths = {name: version_dir / f"{name}.npy" for name in ARRAYS}
    for path in paths.values():
        _regular_file_size(path)
    if verify_checksums:
        for name, digest in zip(paths, _checksums(list(paths.values())), strict=True):
            if digest != files[name]["sha256"]:
                raise SnapshotError(
                    f"{version_dir}: checksum mismatch for {name}.npy", Refusal.CHECKSUM
                )
    arrays = {name: _load_array(path) for name, path in paths.items()}
    check_arrays(arrays, manifest["counts"])
    return LoadedSnapshot(
        version=manifest["version"], path=version_dir, manifest=manifest, arrays=arrays
    )


def _is_version_name(name: str) -> bool:
    """A plain name of a version directory: never a separator, a leading dot or `..`."""
    return VERSION_PATTERN.fullmatch(name) is not None and ".." not in name


def _lstat(path: Path, missing: str) -> os.stat_result:
    """`path`'s own status (a symlink's, not its target's); `missing` is the refusal's text
    when there is nothing there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise SnapshotError(missing, Refusal.MISSING_FILE) from None
    except OSError as exc:
        raise SnapshotError(f"{path}: {exc}", Refusal.OTHER) from exc


def _check_version_dir(version_dir: Path) -> None:
    mode = _lstat(version_dir, f"{version_dir}: no such version directory").st_mode
    if stat.S_ISLNK(mode):
        raise SnapshotError(
            f"{version_dir} is a symlink: a version must be a directory of the snapshot "
            "directory itself",
            Refusal.UNSAFE_PATH,
        )
    if not stat.S_ISDIR(mode):
        raise SnapshotError(f"{version_dir} is not a directory", Refusal.MISSING_FILE)


def _regular_file_size(path: Path) -> int:
    """The size of `path`; refused unless it exists as a regular file, not a symlink (which
    could lead outside the version) nor a FIFO or device (which could block or never end)."""
    info = _lstat(path, f"{path.parent}: missing file {path.name}")
    if not stat.S_ISREG(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise SnapshotError(f"{path.parent}: {path.name} is {kind}", Refusal.UNSAFE_PATH)
    return info.st_size


def _checksums(paths: list[Path]) -> list[str]:
    """sha256 of each file, largest files started first so the threads finish together."""
    by_size = sorted(paths, key=lambda path: path.stat().st_size, reverse=True)
    try:
        with ThreadPoolExecutor(
            max_workers=CHECKSUM_THREADS, thread_name_prefix="checksum"
        ) as pool:
            digests = dict(zip(by_size, pool.map(sha256_file, by_size), strict=True))
    except OSError as exc:
        raise SnapshotError(f"cannot read a snapshot file: {exc}", Refusal.OTHER) from exc
    return [digests[path] for path in paths]


def _read_manifest(version_dir: Path) -> dict[str, Any]:
    """The manifest as a dict whose keys the loader uses are present and well-typed."""
    path = version_dir / MANIFEST_NAME
    if _regular_file_size(path) > MAX_MANIFEST_BYTES:
        raise _manifest_error(version_dir, f"is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as exc:
        raise SnapshotError(f"{version_dir}: cannot read {MANIFEST_NAME}: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
        raise _manifest_error(version_dir, f"is not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _manifest_error(version_dir, "is not a JSON object")
    if "schema_version" not in manifest:
        raise _manifest_error(version_dir, "has no schema_version")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise SnapshotError(
            f"{version_dir}: schema version {manifest['schema_version']!r} is not the "
            f"supported {SCHEMA_VERSION}",
            Refusal.SCHEMA_VERSION,
        )
    if manifest.get("version") != version_dir.name:
        raise _manifest_error(version_dir, f"names version {manifest.get('version')!r}")
    if not _is_timestamp(manifest.get("created_at")):
        raise _manifest_error(version_dir, "has no ISO 8601 created_at")
    for key in ("counts", "files"):
        if not isinstance(manifest.get(key), dict):
            raise _manifest_error(version_dir, f"has no {key} object")
    for key in ("parameters", "input", "metrics"):
        if not isinstance(manifest.get(key, {}), dict):
            raise _manifest_error(version_dir, f"has a {key} that is not an object")
    check_counts(manifest["counts"])
    _check_file_entries(version_dir, manifest["files"])
    return manifest


def _check_file_entries(version_dir: Path, files: dict[str, Any]) -> None:
    if set(files) != set(ARRAYS):
        raise _manifest_error(version_dir, f"files do not match schema {SCHEMA_VERSION}")
    for name, entry in files.items():
        expected = f"{name}.npy"
        named = entry.get("file") if isinstance(entry, dict) else None
        if named != expected:
            # File names are fixed by the schema, so a manifest cannot point elsewhere.
            escapes = isinstance(named, str) and (
                named.startswith((".", "/", "\\", "~")) or "/" in named or "\\" in named
            )
            raise SnapshotError(
                f"{version_dir}: manifest entry for {name} names {named!r}: it must name "
                f"{expected}",
                Refusal.UNSAFE_PATH if escapes else Refusal.MANIFEST,
            )
        if not isinstance(entry.get("sha256"), str):
            raise _manifest_error(version_dir, f"has no sha256 for {expected}")


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _manifest_error(version_dir: Path, problem: str) -> SnapshotError:
    return SnapshotError(f"{version_dir}: {MANIFEST_NAME} {problem}", Refusal.MANIFEST)


def _load_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        # numpy refuses object arrays without pickle: say so plainly.
        raise SnapshotError(
            f"{path}: cannot load without pickle or malformed: {exc}", Refusal.ARRAY
        ) from exc
    except OSError as exc:
        raise SnapshotError(f"{path}: unreadable: {exc}", Refusal.ARRAY) from exc
    if not isinstance(array, np.ndarray):
        if hasattr(array, "close"):
            array.close()  # an .npz archive under a .npy name: release its file
        raise SnapshotError(f"{path}: not a single .npy array", Refusal.ARRAY)
    return array
