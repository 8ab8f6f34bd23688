"""Scale curve: how training, the snapshot and serving grow with the order history.

For each size (order lines; customers = lines / 10, items = lines / 100 by default, the
shape of a mid-size shop) it generates a synthetic history with `basketry generate`, then:
- trains it with `basketry train` -> wall seconds and peak RSS of the training process;
- measures the snapshot: bytes on disk and bytes of its arrays;
- starts `basketry serve` on it -> snapshot load seconds (the server's own
  basketry_snapshot_load_duration_seconds), server RSS after warm-up, and Recommend
  p50/p99 over sequential calls for random known customers.
Prints a table and writes JSON (--json). Sizes: --sizes 1e5,1e6,1e7 (default 1e5,1e6).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from serve_latency import free_port, p99, recommend_latencies_ms, serving

from basketry.snapshot import load_latest, read_latest_version
from basketry.v1 import recommender_pb2_grpc as pb_grpc

BASKETRY = [sys.executable, "-m", "basketry.cli.main"]


@dataclass
class ScalePoint:
    order_lines: int
    customers: int
    items: int
    generate_seconds: float
    train_seconds: float
    train_peak_rss_mb: float
    snapshot_mb: float
    snapshot_array_mb: float
    load_seconds: float
    server_rss_mb: float
    server_rss_per_array_byte: float
    recommend_p50_ms: float
    recommend_p99_ms: float


def timed(command: list[str]) -> tuple[float, float]:
    """Run `command` under GNU time; returns (wall seconds, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall, peak_kb = report.read().split()[-2:]
    return float(wall), float(peak_kb) / 1024


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return float(match.group(1)) / 1024 if match else float("nan")


def scrape(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{name} not in the server's /metrics")
    return float(match.group(1))


def measure(lines: int, customers: int, items: int, work: Path, calls: int) -> ScalePoint:
    orders, catalog = work / f"orders-{lines}.parquet", work / f"catalog-{lines}.parquet"
    snapshots = work / f"snapshots-{lines}"
    print(f"{lines:,} lines: generating ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [*BASKETRY, "generate", "--out", str(orders), "--catalog-out", str(catalog),
         "--lines", str(lines), "--customers", str(customers), "--items", str(items)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    generate_seconds = time.perf_counter() - started
    print(f"{lines:,} lines: training ...", flush=True)
    train_seconds, train_peak = timed(
        [*BASKETRY, "train", "--orders", str(orders), "--catalog", str(catalog),
         "--snapshot-dir", str(snapshots), "--quiet"]
    )  # fmt: skip
    version_dir = snapshots / read_latest_version(snapshots)
    snapshot_bytes = sum(f.stat().st_size for f in version_dir.iterdir())
    snapshot = load_latest(snapshots, verify_checksums=False)
    array_bytes = sum(array.nbytes for array in snapshot.arrays.values())
    known = [str(c) for c in snapshot.arrays["customer_ids"][:: max(1, customers // 5000)]]
    del snapshot

    print(f"{lines:,} lines: serving ...", flush=True)
    port, metrics_port = free_port(), free_port()
    target = f"127.0.0.1:{port}"
    serve = [*BASKETRY, "serve", "--snapshot-dir", str(snapshots), "--port", str(port),
             "--metrics-port", str(metrics_port), "--cache-ttl", "0"]  # fmt: skip
    with serving(serve, target, timeout=600) as server:
        with grpc.insecure_channel(target) as channel:
            latencies = recommend_latencies_ms(
                pb_grpc.RecommenderServiceStub(channel), known, calls
            )
        load_seconds = scrape(metrics_port, "basketry_snapshot_load_duration_seconds")
        server_rss = rss_mb(server.pid)
    return ScalePoint(
        order_lines=lines,
        customers=customers,
        items=items,
        generate_seconds=round(generate_seconds, 1),
        train_seconds=train_seconds,
        train_peak_rss_mb=round(train_peak),
        snapshot_mb=round(snapshot_bytes / 1e6, 1),
        snapshot_array_mb=round(array_bytes / 1e6, 1),
        load_seconds=round(load_seconds, 2),
        server_rss_mb=round(server_rss),
        server_rss_per_array_byte=round(server_rss * 1024 * 1024 / array_bytes, 2),
        recommend_p50_ms=round(sorted(latencies)[len(latencies) // 2], 2),
        recommend_p99_ms=round(p99(latencies), 2),
    )


def size(text: str) -> int:
    return int(float(text))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1e5,1e6", help="order lines, comma-separated")
    parser.add_argument("--customers-per-line", type=float, default=0.1)
    parser.add_argument("--items-per-line", type=float, default=0.01)
    parser.add_argument("--calls", type=int, default=1000, help="Recommend calls per size")
    parser.add_argument("--work-dir", type=Path, help="keep generated files here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="basketry-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    points = []
    for lines in (size(s) for s in args.sizes.split(",")):
        customers = max(1, int(lines * args.customers_per_line))
        items = max(20, int(lines * args.items_per_line))
        points.append(measure(lines, customers, items, work, args.calls))
    columns = [name for name in ScalePoint.__dataclass_fields__]
    print("  ".join(f"{name}" for name in columns))
    for point in points:
        print("  ".join(f"{getattr(point, name)}" for name in columns))
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in points], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
