"""Every benchmark in one command: `python bench/run_all.py [--full] [--out bench/results]`.

Runs each bench script (each measures its own reference in the same run), keeps their JSON
in --out, and writes --out/summary.md: one table of the issue's targets with the measured
ratio and whether it is met, then the scale curve. --full adds the 10M-line scale point and
the serving-overhead run on its snapshot (100k items / 1M customers; about 30 minutes on 2
cores); without it the scale curve stops at 1M lines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUNDLED = ROOT / "examples" / "data" / "online_retail.csv.gz"
Figures = dict[str, Any]


@dataclass(frozen=True)
class Target:
    name: str
    source: str  # the JSON file (bench script stem) it is read from
    value: Callable[[Figures], float]
    goal: str  # e.g. ">= 0.70"

    def met(self, measured: float) -> bool:
        op, bound = self.goal.split()
        return measured >= float(bound) if op == ">=" else measured <= float(bound)


TARGETS = [
    Target(
        "Recommend throughput, 1 process / empty-handler reference (Online Retail)",
        "throughput",
        lambda f: f["single"]["calls_per_second"] / f["reference"]["calls_per_second"],
        ">= 0.70",
    ),
    Target(
        "p99 / p50 at half of the maximum throughput (1 process)",
        "throughput",
        lambda f: f["single_half_load"]["p99_ms"] / f["single_half_load"]["p50_ms"],
        "<= 5",
    ),
    Target(
        "N server processes / 1 process, max Recommend throughput",
        "throughput",
        lambda f: f["multi"]["calls_per_second"] / f["single"]["calls_per_second"],
        ">= 1.6",
    ),
    Target(
        "RecommendBatchChunked customers/s / implicit batch recommend",
        "batch_vs_implicit",
        lambda f: f["recommend_batch_chunked_vs_implicit"],
        ">= 0.60",
    ),
    Target(
        "whole basketry train / its ALS fit (Online Retail)",
        "train_vs_fit",
        lambda f: f["train_vs_fit"],
        "<= 1.5",
    ),
    Target(
        "co-purchase mining speed-up over mlxtend fpgrowth + association_rules",
        "mining",
        lambda f: f["speedup"],
        ">= 20",
    ),
]


def run(script: str, out: Path, *args: str) -> Figures:
    """Run bench/<script>.py with --json; returns its figures (also kept in out/)."""
    target = out / f"{script}.json"
    print(f"== {script} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(target)], check=True
    )
    print(f"== {script} done in {time.perf_counter() - started:.0f} s", flush=True)
    figures: Figures = json.loads(target.read_text())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--full", action="store_true", help="add the 10M-line scale point")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    snapshots = Path(tempfile.mkdtemp(prefix="basketry-bench-"))
    print(f"training on {BUNDLED.name} into {snapshots} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "basketry.cli.main", "train", "--orders", str(BUNDLED),
         "--preset", "online-retail", "--snapshot-dir", str(snapshots), "--quiet"],
        check=True,
    )  # fmt: skip
    results: dict[str, Figures] = {
        "serve_latency": run("serve_latency", args.out, "--snapshot-dir", str(snapshots)),
        "throughput": run("throughput", args.out, "--snapshot-dir", str(snapshots)),
        "batch_vs_implicit": run("batch_vs_implicit", args.out, "--snapshot-dir", str(snapshots)),
        "train_vs_fit": run("train_vs_fit", args.out),
        "mining": run("mining", args.out, "--repeats", "3"),
    }
    sizes = "1e5,1e6,1e7" if args.full else "1e5,1e6"
    scale_dir = Path(tempfile.mkdtemp(prefix="basketry-scale-"))
    scale = run("scale", args.out, "--sizes", sizes, "--work-dir", str(scale_dir))
    if (BENCH / "ann_recall.py").exists():
        results["ann_recall"] = run("ann_recall", args.out)

    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for target in TARGETS:
        measured = target.value(results[target.source])
        verdict = "yes" if target.met(measured) else "**no**"
        lines.append(f"| {target.name} | {measured:.2f} | {target.goal} | {verdict} |")
    latency = results["serve_latency"]["basketry"]
    lines += [
        "",
        f"Recommend, sequential on one channel: p50 {latency['recommend_p50_ms']:.2f} ms, "
        f"p99 {latency['recommend_p99_ms']:.2f} ms.",
        "",
        "| " + " | ".join(scale[0]) + " |",
        "|" + "---|" * len(scale[0]),
    ]
    lines += ["| " + " | ".join(str(value) for value in point.values()) + " |" for point in scale]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
