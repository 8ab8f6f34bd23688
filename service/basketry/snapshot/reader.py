"""Loads a published snapshot version, refusing anything that does not verify."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from basketry.snapshot.errors import SnapshotError
from basketry.snapshot.schema import ARRAYS, LATEST_NAME, MANIFEST_NAME, SCHEMA_VERSION
from basketry.snapshot.validation import check_arrays, check_counts, sha256_file


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
    """The version name LATEST points at; SnapshotError if there is none or it is malformed."""
    latest = snapshot_dir / LATEST_NAME
    try:
        version = latest.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot published yet: {latest} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read {latest}: {exc}") from exc
    _check_plain_name(version, what="LATEST")
    return version


def load_latest(snapshot_dir: Path, *, verify_checksums: bool = True) -> LoadedSnapshot:
    """Load the version LATEST points at."""
    return load_snapshot(
        snapshot_dir / read_latest_version(snapshot_dir), verify_checksums=verify_checksums
    )


def load_snapshot(version_dir: Path, *, verify_checksums: bool = True) -> LoadedSnapshot:
    """Load and verify one version directory (checksums, schema version, dtypes, shapes).

    Arrays are memory-mapped read-only. Checksums read every byte once (the integrity
    check is worth it: a server refuses a damaged version before serving from it); files
    are hashed on several threads (hashlib releases the GIL), about 1 GB/s per core.
    """
    manifest = _read_manifest(version_dir)
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(ARRAYS):
        raise SnapshotError(f"{version_dir}: manifest files do not match schema {SCHEMA_VERSION}")
    paths: dict[str, Path] = {}
    for name in ARRAYS:
        entry = files[name]
        expected_file = f"{name}.npy"
        if not isinstance(entry, dict) or entry.get("file") != expected_file:
            # File names are fixed by the schema, so a manifest cannot point elsewhere.
            raise SnapshotError(
                f"{version_dir}: manifest entry for {name} must name {expected_file}"
            )
        path = version_dir / expected_file
        if not path.is_file():
            raise SnapshotError(f"{version_dir}: missing file {expected_file}")
        paths[name] = path
    if verify_checksums:
        for name, digest in zip(paths, _checksums(list(paths.values())), strict=True):
            if digest != files[name].get("sha256"):
                raise SnapshotError(f"{version_dir}: checksum mismatch for {name}.npy")
    arrays = {name: _load_array(path) for name, path in paths.items()}
    check_arrays(arrays, manifest["counts"])
    return LoadedSnapshot(
        version=manifest["version"], path=version_dir, manifest=manifest, arrays=arrays
    )


def _checksums(paths: list[Path]) -> list[str]:
    """sha256 of each file, largest files started first so the threads finish together."""
    threads = max(1, min(4, os.cpu_count() or 1))
    by_size = sorted(paths, key=lambda path: path.stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="checksum") as pool:
        digests = dict(zip(by_size, pool.map(sha256_file, by_size), strict=True))
    return [digests[path] for path in paths]


def _read_manifest(version_dir: Path) -> dict[str, Any]:
    path = version_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{version_dir}: no {MANIFEST_NAME}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{version_dir}: unreadable {MANIFEST_NAME}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise SnapshotError(f"{version_dir}: {MANIFEST_NAME} is not a JSON object")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SnapshotError(
            f"{version_dir}: schema version {manifest.get('schema_version')!r} is not the "
            f"supported {SCHEMA_VERSION}"
        )
    if manifest.get("version") != version_dir.name:
        raise SnapshotError(f"{version_dir}: manifest names version {manifest.get('version')!r}")
    check_counts(manifest.get("counts") or {})
    return manifest


def _load_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        # numpy refuses object arrays without pickle: say so plainly.
        raise SnapshotError(f"{path}: cannot load without pickle or malformed: {exc}") from exc
    except OSError as exc:
        raise SnapshotError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(array, np.ndarray):
        raise SnapshotError(f"{path}: not a single .npy array")
    return array


def _check_plain_name(name: str, *, what: str) -> None:
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise SnapshotError(f"{what} names an invalid version {name!r}")
