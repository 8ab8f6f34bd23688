"""The snapshot format the server relies on: round trip, and refusal of anything off."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.synthetic import publish_synthetic_snapshot, synthetic_arrays

from basketry.snapshot import SnapshotError, load_latest, load_snapshot, publish_snapshot
from basketry.snapshot.validation import sha256_file

PUBLISH_ARGS: dict[str, Any] = {"parameters": {}, "input_info": {}, "metrics": {}}


@pytest.fixture
def version_dir(tmp_path: Path) -> Path:
    return publish_synthetic_snapshot(tmp_path / "snap", n_customers=20, n_items=12, factors=4)


def _edit_manifest(version_dir: Path, edit: Callable[[dict[str, object]], None]) -> None:
    path = version_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _replace_array(version_dir: Path, name: str, array: np.ndarray) -> None:
    """Swap in another array and fix its checksum, so only the content check can object."""
    path = version_dir / f"{name}.npy"
    np.save(path, array, allow_pickle=array.dtype.hasobject)

    def fix(manifest: dict[str, object]) -> None:
        manifest["files"][name]["sha256"] = sha256_file(path)  # type: ignore[index]

    _edit_manifest(version_dir, fix)


def test_round_trip(tmp_path: Path) -> None:
    arrays, counts = synthetic_arrays(n_customers=20, n_items=12, factors=4)
    version_dir = publish_snapshot(
        tmp_path,
        arrays,
        counts=counts,
        parameters={"als.alpha": 2.0},
        input_info={"last_order_ts": 5},
        metrics={},
    )
    loaded = load_latest(tmp_path)
    assert loaded.version == version_dir.name
    assert loaded.counts == counts
    assert loaded.manifest["parameters"] == {"als.alpha": 2.0}
    assert loaded.manifest["input"] == {"last_order_ts": 5}
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], array)
        assert loaded.arrays[name].dtype == array.dtype


def test_flipped_byte_is_refused(version_dir: Path) -> None:
    path = version_dir / "item_factors.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"checksum mismatch for item_factors\.npy"):
        load_snapshot(version_dir)


def test_truncated_file_is_refused_with_or_without_checksums(version_dir: Path) -> None:
    path = version_dir / "history_items.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        load_snapshot(version_dir)
    with pytest.raises(SnapshotError, match="history_items"):
        load_snapshot(version_dir, verify_checksums=False)


def test_missing_file_is_refused(version_dir: Path) -> None:
    (version_dir / "pairs_score.npy").unlink()
    with pytest.raises(SnapshotError, match=r"missing file pairs_score\.npy"):
        load_snapshot(version_dir)


@pytest.mark.parametrize("version", [1, 2, 4])
def test_other_schema_versions_are_refused(version_dir: Path, version: int) -> None:
    # Older snapshots lack arrays (version 2: the serving arrays): refused by name, not by
    # a missing file.
    _edit_manifest(version_dir, lambda m: m.update(schema_version=version))
    with pytest.raises(SnapshotError, match=f"schema version {version} is not the supported 3"):
        load_snapshot(version_dir)


@pytest.mark.parametrize("name", ["customer_ids", "item_ids"])
def test_unsorted_or_duplicate_ids_are_refused_by_writer_and_reader(
    tmp_path: Path, version_dir: Path, name: str
) -> None:
    arrays, counts = synthetic_arrays(n_customers=20, n_items=12, factors=4)
    arrays[name] = arrays[name][::-1].copy()
    with pytest.raises(SnapshotError, match=f"{name} must be sorted ascending"):
        publish_snapshot(tmp_path / "other", arrays, counts=counts, **PUBLISH_ARGS)
    duplicated = np.load(version_dir / f"{name}.npy")
    duplicated[1] = duplicated[0]
    _replace_array(version_dir, name, duplicated)
    with pytest.raises(SnapshotError, match=f"{name} must be sorted ascending without duplicates"):
        load_snapshot(version_dir)


def test_buyers_outside_the_customers_are_refused(version_dir: Path) -> None:
    buyers = np.load(version_dir / "buyers_customers.npy")
    buyers[0] = 20
    _replace_array(version_dir, "buyers_customers", buyers)
    with pytest.raises(SnapshotError, match=r"buyers: an index is outside 0\.\.19"):
        load_snapshot(version_dir)


def test_shape_mismatch_is_refused_by_writer_and_reader(tmp_path: Path, version_dir: Path) -> None:
    arrays, counts = synthetic_arrays(n_customers=20, n_items=12, factors=4)
    arrays["item_factors"] = arrays["item_factors"][:, :3]
    with pytest.raises(SnapshotError, match="item_factors: expected shape"):
        publish_snapshot(tmp_path / "other", arrays, counts=counts, **PUBLISH_ARGS)
    _replace_array(version_dir, "item_prices", np.zeros(11, dtype=np.float32))
    with pytest.raises(SnapshotError, match="item_prices: expected shape"):
        load_snapshot(version_dir)


def test_object_array_is_refused_by_writer_and_reader(tmp_path: Path, version_dir: Path) -> None:
    arrays, counts = synthetic_arrays(n_customers=20, n_items=12, factors=4)
    arrays["item_names"] = arrays["item_names"].astype(object)
    with pytest.raises(SnapshotError, match="object arrays are refused"):
        publish_snapshot(tmp_path / "other", arrays, counts=counts, **PUBLISH_ARGS)
    _replace_array(version_dir, "item_names", np.array(["x"] * 12, dtype=object))
    with pytest.raises(SnapshotError, match="without pickle"):
        load_snapshot(version_dir)


def test_manifest_cannot_name_a_file_outside_its_directory(version_dir: Path) -> None:
    _edit_manifest(version_dir, lambda m: m["files"]["item_ids"].update(file="../item_ids.npy"))  # type: ignore[index]
    with pytest.raises(SnapshotError, match=r"must name item_ids\.npy"):
        load_snapshot(version_dir)


@pytest.mark.parametrize("pointer", ["../x", "/etc", ".hidden", ""])
def test_latest_must_name_a_plain_version(version_dir: Path, pointer: str) -> None:
    (version_dir.parent / "LATEST").write_text(pointer + "\n")
    with pytest.raises(SnapshotError, match="LATEST"):
        load_latest(version_dir.parent)


def test_no_latest_yet(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no snapshot published yet"):
        load_latest(tmp_path)
