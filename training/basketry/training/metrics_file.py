"""Training and evaluation metrics as a Prometheus textfile (node-exporter's textfile format).

`basketry train --metrics-file` and `basketry evaluate --metrics-file` write their gauges
here, for node-exporter's textfile collector to expose, so a dashboard can follow training
runs and model quality over time without a push gateway.

Writes are atomic (a temp file in the same directory, fsync, rename): node-exporter never
reads half a file. A write merges into the file by metric family: families the write does
not carry are kept, so train and evaluate may share one file, and a failed run keeps the
previous success timestamp. Within a family the write replaces the samples in its `scope`
(all of them when the scope is empty): an evaluation of one protocol keeps the other
protocol's scores. One writer per file at a time; jobs that may overlap use separate files
in the same textfile directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

TEXTFILE_SUFFIX = ".prom"  # the only files node-exporter's textfile collector reads

Labels = dict[str, str]


class MetricsFileError(Exception):
    """The metrics file cannot be written where it was asked for."""


@dataclass(frozen=True)
class Gauge:
    """One gauge family: its samples as (labels, value)."""

    name: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def metric(self) -> Metric:
        family = Metric(self.name, self.help, "gauge")
        for labels, value in self.samples:
            family.add_sample(self.name, labels, value)
        return family


def add_metrics_file_argument(parser: argparse.ArgumentParser, *, help: str) -> None:
    """--metrics-file PATH, in a "monitoring" group."""
    parser.add_argument_group("monitoring").add_argument(
        "--metrics-file", type=Path, metavar="PATH", help=help
    )


def check_metrics_file_argument(args: argparse.Namespace, command: str) -> bool:
    """False (with the reason on stderr) when --metrics-file cannot be written."""
    if args.metrics_file is None:
        return True
    try:
        check_metrics_path(args.metrics_file)
    except MetricsFileError as exc:
        print(f"basketry {command}: error: {exc}", file=sys.stderr)
        return False
    return True


def write_metrics_file(
    path: Path | None, gauges: list[Gauge], command: str, *, scope: dict[str, str] | None = None
) -> bool:
    """Merge `gauges` into the --metrics-file (if one was given); False when that fails."""
    if path is None:
        return True
    try:
        update_metrics_file(path, gauges, scope=scope)
    except OSError as exc:
        print(
            f"basketry {command}: cannot write {path}: {exc}",
            file=sys.stderr,
        )
        return False
    return True


def check_metrics_path(path: Path) -> None:
    """Refuse, before any slow work, a path the write would fail on or node-exporter ignore."""
    if path.suffix != TEXTFILE_SUFFIX:
        raise MetricsFileError(
            f"metrics file {path} must end in {TEXTFILE_SUFFIX}: node-exporter's textfile "
            "collector reads only those"
        )
    if path.is_dir():
        raise MetricsFileError(f"metrics file {path} is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise MetricsFileError(f"metrics file directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise MetricsFileError(f"metrics file directory {directory} is not writable")


def update_metrics_file(
    path: Path, gauges: Sequence[Gauge], *, scope: Mapping[str, str] | None = None
) -> None:
    """Merge `gauges` into the textfile at `path` and replace it atomically.

    Samples of the written families that match `scope` (every scope label equal) are
    replaced; other samples and other families already in the file are kept.
    """
    kept = _without(read_metrics_file(path), gauges, scope or {})
    families = [*kept, *(gauge.metric() for gauge in gauges)]
    _write_atomically(path, _exposition(sorted(families, key=lambda family: family.name)))


def read_metrics_file(path: Path) -> list[Metric]:
    """The metric families in the textfile at `path`; none when it is missing.

    A file that does not parse (not written by us) is logged and treated as empty: the
    write replaces it with a valid one rather than failing the job over it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        return list(text_string_to_metric_families(text))
    except ValueError as exc:
        log.warning("metrics file %s does not parse (%s); replacing it", path, exc)
        return []


def _without(
    existing: list[Metric], written: Sequence[Gauge], scope: Mapping[str, str]
) -> list[Metric]:
    """`existing` less the samples the write replaces (and families left empty by that)."""
    names = {gauge.name for gauge in written}
    kept = []
    for family in existing:
        if family.name in names:
            family.samples = [s for s in family.samples if not _in_scope(s.labels, scope)]
        if family.samples:
            kept.append(family)
    return kept


def _in_scope(labels: Mapping[str, str], scope: Mapping[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in scope.items())


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _exposition(families: list[Metric]) -> bytes:
    # prometheus_client writes the HELP/TYPE lines and escapes label values and help text.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def _write_atomically(path: Path, content: bytes) -> None:
    # The temp name does not end in .prom, so the collector never reads it half written.
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes it 0600; node-exporter may run as another user
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)  # the rename itself survives a crash


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
