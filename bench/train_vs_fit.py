"""Training overhead: the whole `basketry train` against its ALS fit alone.

Runs `basketry train --metrics-file` on the bundled Online Retail data (or --orders with
the usual input flags, or a generated history of --generate LINES) and compares the
process's wall time (start-up, read, clean, matrices, fit, mining, repeat statistics,
publish) with the ALS fit stage it reports (implicit's `fit` on the confidence matrix).
Prints each stage and the ratio; writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "examples" / "data" / "online_retail.csv.gz"
BASKETRY = [sys.executable, "-m", "basketry.cli.main"]


def stage_seconds(metrics_file: Path) -> dict[str, float]:
    for family in text_string_to_metric_families(metrics_file.read_text()):
        if family.name == "basketry_training_duration_seconds":
            return {sample.labels["stage"]: sample.value for sample in family.samples}
    raise RuntimeError(f"{metrics_file} holds no basketry_training_duration_seconds")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generate", type=float, help="train a generated history of N lines")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args, train_flags = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="basketry-train-bench-"))
    if args.generate:
        lines = int(args.generate)
        orders = work / "orders.parquet"
        subprocess.run(
            [*BASKETRY, "generate", "--out", str(orders), "--lines", str(lines),
             "--customers", str(lines // 10), "--items", str(max(20, lines // 100))],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        train_flags = ["--orders", str(orders), *train_flags]
    elif "--orders" not in train_flags:
        train_flags = ["--orders", str(BUNDLED), "--preset", "online-retail", *train_flags]
    metrics_file = work / "training.prom"
    command = [*BASKETRY, "train", *train_flags, "--snapshot-dir", str(work / "snapshots"),
               "--metrics-file", str(metrics_file), "--quiet"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    stages = stage_seconds(metrics_file)
    figures = {
        "train_wall_seconds": round(wall, 2),
        **{f"stage_{name}_seconds": round(value, 2) for name, value in stages.items()},
        "train_vs_fit": round(wall / stages["fit"], 2),
    }
    for name, value in figures.items():
        print(f"{name:<32}{value:>10}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
