"""Every kind of bad snapshot, published to a running server serving a good one: refused,
counted by reason, logged with the version and the reason, and the good one keeps serving.

Each case starts a real server on its own copy of a directory holding a good version (v1,
with vector indexes the server uses), then makes a damaged copy of another version LATEST.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.snapshot import Refusal, load_snapshot
from basketry.snapshot.validation import sha256_file
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

FAILURES = "basketry_snapshot_load_failures_total"
# Small, but large enough for the server to open and search the vector indexes.
SHAPE = {"n_customers": 60, "n_items": 40, "factors": 8, "ann_min_rows": 30}
SERVER = {"ann_min_rows": 30}


@dataclass(frozen=True)
class Sources:
    good: Path  # a snapshot directory whose LATEST names `good_version`
    good_version: str
    candidate: Path  # a complete version directory, damaged per case
    outside: Path  # somewhere outside every snapshot directory


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    root = tmp_path_factory.mktemp("refusals")
    good = publish_synthetic_snapshot(root / "good", seed=0, **SHAPE)  # type: ignore[arg-type]
    candidate = publish_synthetic_snapshot(root / "candidate", seed=1, **SHAPE)  # type: ignore[arg-type]
    load_snapshot(candidate)  # undamaged, it loads: each case's damage is what refuses it
    outside = root / "outside"
    outside.mkdir()
    return Sources(good.parent, good.name, candidate, outside)


@dataclass(frozen=True)
class Case:
    snapshot_dir: Path
    version_dir: Path  # the damaged copy of the candidate, inside snapshot_dir
    outside: Path


Damage = Callable[[Case], str]  # damages the case's files; returns the text for LATEST


def edit_manifest(version_dir: Path, edit: Callable[[dict[str, object]], object]) -> None:
    path = version_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def replace_array(version_dir: Path, name: str, array: np.ndarray) -> None:
    """Swap in another array and rewrite the manifest to match, so no checksum objects."""
    path = version_dir / f"{name}.npy"
    np.save(path, array, allow_pickle=array.dtype.hasobject)

    def fix(manifest: dict[str, object]) -> None:
        entry = manifest["files"][name]  # type: ignore[index]
        entry.update(sha256=sha256_file(path), bytes=path.stat().st_size)

    edit_manifest(version_dir, fix)


def replace_bytes(version_dir: Path, name: str, data: bytes) -> None:
    replace_array(version_dir, name, np.frombuffer(data, dtype=np.uint8))


# --- the damage, one function per case


def truncated_array(case: Case) -> str:
    path = case.version_dir / "history_items.npy"
    path.write_bytes(path.read_bytes()[:-8])
    return case.version_dir.name


def flipped_byte_in_the_largest_file(case: Case) -> str:
    largest = max(case.version_dir.glob("*.npy"), key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x01
    largest.write_bytes(bytes(data))
    return case.version_dir.name


def missing_array(case: Case) -> str:
    (case.version_dir / "pairs_score.npy").unlink()
    return case.version_dir.name


def missing_manifest(case: Case) -> str:
    (case.version_dir / "manifest.json").unlink()
    return case.version_dir.name


def latest_names_no_directory(case: Case) -> str:
    return "20240101T000000Z-00000000"


def other_schema_version(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m.update(schema_version=2))
    return case.version_dir.name


def shape_mismatch_with_matching_checksum(case: Case) -> str:
    replace_array(case.version_dir, "item_prices", np.zeros(39, dtype=np.float32))
    return case.version_dir.name


def object_array(case: Case) -> str:
    replace_array(case.version_dir, "item_names", np.array(["x"] * 40, dtype=object))
    return case.version_dir.name


def manifest_points_to_parent(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m["files"]["item_ids"].update(file="../x.npy"))  # type: ignore[index]
    return case.version_dir.name


def manifest_points_to_absolute_path(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m["files"]["item_ids"].update(file="/etc/passwd"))  # type: ignore[index]
    return case.version_dir.name


def array_symlink_escaping(case: Case) -> str:
    # The same bytes, so every checksum matches: only the symlink is wrong.
    path = case.version_dir / "item_factors.npy"
    target = case.outside / "item_factors.npy"
    shutil.move(path, target)
    path.symlink_to(target)
    return case.version_dir.name


def version_directory_symlink_escaping(case: Case) -> str:
    target = case.outside / case.version_dir.name
    shutil.move(case.version_dir, target)
    case.version_dir.symlink_to(target, target_is_directory=True)
    return case.version_dir.name


def array_is_a_fifo(case: Case) -> str:
    path = case.version_dir / "pairs_count.npy"
    path.unlink()
    os.mkfifo(path)  # hashing it would block the watcher forever
    return case.version_dir.name


def manifest_not_json(case: Case) -> str:
    (case.version_dir / "manifest.json").write_text("{not json")
    return case.version_dir.name


def manifest_not_an_object(case: Case) -> str:
    (case.version_dir / "manifest.json").write_text("[1, 2, 3]")
    return case.version_dir.name


def manifest_without_files(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m.pop("files"))
    return case.version_dir.name


def manifest_without_counts(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m.pop("counts"))
    return case.version_dir.name


def manifest_without_created_at(case: Case) -> str:
    edit_manifest(case.version_dir, lambda m: m.pop("created_at"))
    return case.version_dir.name


def index_of_random_bytes(case: Case) -> str:
    junk = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    replace_bytes(case.version_dir, "item_cosine_index", junk)
    return case.version_dir.name


def index_neighbour_out_of_range(case: Case) -> str:
    """A valid header and sizes, one neighbour slot past the last node: USearch opens it,
    and its first search would read outside the buffer (SIGSEGV) without our check."""
    data = bytearray(np.load(case.version_dir / "customer_product_index.npy").tobytes())
    rows, row_bytes = np.frombuffer(bytes(data[:8]), dtype="<u4")
    graph = 8 + int(rows) * int(row_bytes) + 64
    size = int(np.frombuffer(bytes(data[graph : graph + 8]), dtype="<u8")[0])
    first_list = graph + 40 + 2 * size + 10  # levels table, then node 0's key and level
    assert int(np.frombuffer(bytes(data[first_list : first_list + 4]), dtype="<u4")[0]) > 0
    data[first_list + 4 : first_list + 8] = np.uint32(size + 1000).tobytes()
    replace_bytes(case.version_dir, "customer_product_index", bytes(data))
    return case.version_dir.name


def latest_parent_path(case: Case) -> str:
    return "../.."


def latest_empty(case: Case) -> str:
    return ""


def latest_several_lines(case: Case) -> str:
    return f"{case.version_dir.name}\n{case.version_dir.name}"


CASES: list[tuple[Damage, Refusal]] = [
    (truncated_array, Refusal.CHECKSUM),
    (flipped_byte_in_the_largest_file, Refusal.CHECKSUM),
    (missing_array, Refusal.MISSING_FILE),
    (missing_manifest, Refusal.MISSING_FILE),
    (latest_names_no_directory, Refusal.MISSING_FILE),
    (other_schema_version, Refusal.SCHEMA_VERSION),
    (shape_mismatch_with_matching_checksum, Refusal.ARRAY),
    (object_array, Refusal.ARRAY),
    (manifest_points_to_parent, Refusal.UNSAFE_PATH),
    (manifest_points_to_absolute_path, Refusal.UNSAFE_PATH),
    (array_symlink_escaping, Refusal.UNSAFE_PATH),
    (version_directory_symlink_escaping, Refusal.UNSAFE_PATH),
    (array_is_a_fifo, Refusal.UNSAFE_PATH),
    (manifest_not_json, Refusal.MANIFEST),
    (manifest_not_an_object, Refusal.MANIFEST),
    (manifest_without_files, Refusal.MANIFEST),
    (manifest_without_counts, Refusal.MANIFEST),
    (manifest_without_created_at, Refusal.MANIFEST),
    (index_of_random_bytes, Refusal.INDEX),
    (index_neighbour_out_of_range, Refusal.INDEX),
    (latest_parent_path, Refusal.LATEST),
    (latest_empty, Refusal.LATEST),
    (latest_several_lines, Refusal.LATEST),
]


def failures(running: RunningServer, reason: Refusal | None = None) -> float:
    registry = running.server.metrics.registry
    if reason is not None:
        return registry.get_sample_value(FAILURES, {"reason": reason.value}) or 0.0
    return sum(registry.get_sample_value(FAILURES, {"reason": r.value}) or 0.0 for r in Refusal)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def served(sources: Sources, tmp_path: Path) -> Iterator[tuple[RunningServer, Case]]:
    """A server on a fresh copy of the good directory, and the case to damage in it."""
    snapshot_dir = tmp_path / "snapshots"
    shutil.copytree(sources.good, snapshot_dir, symlinks=True)
    version_dir = snapshot_dir / sources.candidate.name
    shutil.copytree(sources.candidate, version_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    with running_server(snapshot_dir, **SERVER) as running:
        assert running.server.holder.current().version == sources.good_version
        yield running, Case(snapshot_dir, version_dir, outside)


@pytest.mark.parametrize(("damage", "reason"), CASES, ids=[d.__name__ for d, _ in CASES])
def test_a_bad_version_is_refused_and_the_previous_one_keeps_serving(
    served: tuple[RunningServer, Case],
    sources: Sources,
    caplog: pytest.LogCaptureFixture,
    damage: Damage,
    reason: Refusal,
) -> None:
    running, case = served
    latest = damage(case)
    with caplog.at_level(logging.WARNING, logger="basketry.server.watcher"):
        (case.snapshot_dir / "LATEST").write_text(latest + "\n")
        wait_until(lambda: failures(running) >= 1)
        time.sleep(0.2)  # several more polls: the refusal must be counted once, not per poll

    assert failures(running) == 1
    assert failures(running, reason) == 1
    with grpc.insecure_channel(running.target) as channel:
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        answer = stub.Recommend(pb.RecommendRequest(customer_id="c0003"), timeout=10)
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    assert answer.model_version == sources.good_version and len(answer.items) == 10
    assert info.model_version == sources.good_version
    named = repr(latest.strip()) if reason is Refusal.LATEST else latest
    refusals = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.ERROR and "refused" in record.getMessage()
    ]
    assert len(refusals) == 1, refusals
    assert named in refusals[0] and f"(reason {reason.value})" in refusals[0], refusals[0]


def test_every_refusal_reason_is_exported_at_zero_from_the_first_scrape(
    sources: Sources, tmp_path: Path
) -> None:
    snapshot_dir = tmp_path / "snapshots"
    shutil.copytree(sources.good, snapshot_dir)
    with running_server(snapshot_dir, metrics_port=0) as running:
        url = f"http://127.0.0.1:{running.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    for reason in Refusal:
        assert f'{FAILURES}{{reason="{reason.value}"}} 0.0' in text, reason


def test_every_refusal_reason_has_a_case() -> None:
    assert {reason for _, reason in CASES} == set(Refusal) - {Refusal.OTHER}


def test_a_damaged_index_is_refused_or_harmless_never_a_crash() -> None:
    """Random words of a stored index overwritten (checksums rewritten to match, as a bug
    or a hand-edited manifest would): the layout check refuses the version, or USearch
    opens and searches it without crashing the process. Without the check, such damage
    crashes a search with SIGSEGV (index_neighbour_out_of_range above)."""
    script = Path(__file__).resolve().parent.parent / "support" / "index_fuzz.py"
    done = subprocess.run(
        [sys.executable, str(script), "300", "11"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(done.stdout)
    assert outcome["crashed"] == 0 and outcome["raised"] == 0, outcome
    assert outcome["refused"] > 0 and outcome["passed"] > 0, outcome  # both paths ran
