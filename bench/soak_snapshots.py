"""The snapshot versions the soak test publishes while the server is under load.

Training for every swap would take the load generator's cores, so a few variants are trained
up front (the bundled Online Retail data, different ALS seeds: different factors, same ids)
and each swap publishes one of them again through the snapshot writer, as a NEW version: a
new directory whose manifest names it, fresh checksums, LATEST replaced atomically, older
versions pruned; its parameters say which trained version it repeats ("soak.source_version").
Then it is announced through Redis as `basketry publish` does (while Redis is down the
announcement fails and the servers find the version at their next poll of LATEST).

The corrupted version is written by the same writer into a staging directory, gets one
flipped byte in an array file, and is then moved into the snapshot directory and published
(LATEST, announcement): a version damaged on disk after it was written.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import redis

from basketry.snapshot import LoadedSnapshot, load_latest, publish_snapshot
from basketry.snapshot.announce import announce
from basketry.snapshot.writer import point_latest

log = logging.getLogger("soak")

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_ORDERS = ROOT / "examples" / "data" / "online_retail.csv.gz"
CORRUPTED_FILE = "item_factors.npy"
KEEP_VERSIONS = 5


def train_variants(directory: Path, count: int) -> list[LoadedSnapshot]:
    """`count` snapshots of the bundled data (ALS seeds 1..count), each in its own directory;
    trained side by side (each run is mostly one-threaded Python)."""
    targets = [directory / f"seed-{seed}" for seed in range(1, count + 1)]
    log.info("training %d variants (ALS seeds 1..%d) into %s", count, count, directory)
    runs = [
        subprocess.Popen(train_command(target, seed), stdout=subprocess.DEVNULL)
        for seed, target in enumerate(targets, start=1)
    ]
    failed = [target for run, target in zip(runs, targets, strict=True) if run.wait() != 0]
    if failed:
        raise RuntimeError(f"training failed for {', '.join(map(str, failed))}")
    return [load_latest(target) for target in targets]


def train_command(target: Path, seed: int) -> list[str]:
    return [
        sys.executable, "-m", "basketry.cli.main", "train",
        "--orders", str(BUNDLED_ORDERS), "--preset", "online-retail",
        "--snapshot-dir", str(target), "--quiet", "--seed", str(seed),
    ]  # fmt: skip


class SnapshotFeed:
    """Publishes the variants in turn into `snapshot_dir` and announces them on `redis_url`."""

    def __init__(
        self, snapshot_dir: Path, staging_dir: Path, variants: list[LoadedSnapshot], redis_url: str
    ) -> None:
        self.snapshot_dir = snapshot_dir
        self.staging_dir = staging_dir
        self.variants = variants
        self.redis_url = redis_url
        self.published = 0
        self.announce_failures = 0

    def publish_next(self) -> str:
        """Publish the next variant as a new version and announce it; the version name."""
        source = self.variants[self.published % len(self.variants)]
        self.published += 1
        version = self._write(self.snapshot_dir, source).name
        self._announce(version)
        return version

    def publish_corrupted(self) -> str:
        """Publish a new version with one flipped byte in CORRUPTED_FILE; its name."""
        source = self.variants[self.published % len(self.variants)]
        written = self._write(self.staging_dir, source)
        damaged = written / CORRUPTED_FILE
        data = bytearray(damaged.read_bytes())
        data[-1] ^= 0xFF  # the last byte: inside the array data, past the .npy header
        damaged.write_bytes(bytes(data))
        written.rename(self.snapshot_dir / written.name)
        point_latest(self.snapshot_dir, written.name)
        self._announce(written.name)
        return written.name

    def _write(self, directory: Path, source: LoadedSnapshot) -> Path:
        manifest = source.manifest
        return publish_snapshot(
            directory,
            source.arrays,
            counts=manifest["counts"],
            parameters={**manifest["parameters"], "soak.source_version": source.version},
            input_info=manifest["input"],
            metrics=manifest["metrics"],
            keep=KEEP_VERSIONS,
        )

    def _announce(self, version: str) -> None:
        client = redis.Redis.from_url(
            self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        try:
            receivers = announce(client, version)
        except redis.RedisError as exc:
            self.announce_failures += 1
            log.info("announcing %s failed (%s): the servers poll LATEST", version, exc)
        else:
            log.info("published %s, announced to %d listener(s)", version, receivers)
        finally:
            client.close()
