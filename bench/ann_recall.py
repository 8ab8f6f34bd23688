"""Approximate top-k: recall@10 of the vector indexes against exact top-k, and latency of both.

Trains a synthetic snapshot with a 100k-item catalogue (`basketry generate` + `basketry
train`; or measures an existing one: --snapshot-dir), builds the customer indexes training
leaves out by default, loads it twice, once with the vector indexes (the server above its
ANN threshold) and once exact, and asks both the same questions through the serving
functions themselves:
- similar items (cosine over item factors), for random trained items;
- similar customers (cosine over customer factors) and look-alikes (customer factors .
  the audience of three random seed customers), for random warm customers;
- discover-new Recommend (its latent source scores only the item index's candidates).
recall@10 = |indexed answer ∩ exact answer| / |exact answer|, averaged over the questions;
latency = mean milliseconds per question, single-threaded, both measured in the same run.
Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from basketry.server.domain import RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel, build_model
from basketry.server.recommend import recommend
from basketry.server.similarity import lookalike, similar_customers, similar_items
from basketry.snapshot import LoadedSnapshot, load_latest
from basketry.snapshot.vector_index import cosine_index, product_index

BASKETRY = [sys.executable, "-m", "basketry.cli.main"]
K = 10
Question = TypeVar("Question")


@dataclass
class Row:
    question: str
    rows_searched: int
    questions: int
    recall_at_10: float
    exact_ms: float
    indexed_ms: float
    speedup: float


def train_snapshot(work: Path, lines: int, customers: int, items: int) -> Path:
    orders, catalog = work / "orders.parquet", work / "catalog.parquet"
    snapshots = work / "snapshots"
    print(f"generating {lines:,} lines, {customers:,} customers, {items:,} items ...", flush=True)
    subprocess.run(
        [*BASKETRY, "generate", "--out", str(orders), "--catalog-out", str(catalog),
         "--lines", str(lines), "--customers", str(customers), "--items", str(items)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print("training (builds the vector indexes) ...", flush=True)
    subprocess.run(
        [*BASKETRY, "train", "--orders", str(orders), "--catalog", str(catalog),
         "--snapshot-dir", str(snapshots), "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return snapshots


def compare(
    name: str,
    rows_searched: int,
    questions: Sequence[Question],
    ask: Callable[[ServingModel, Question], list[int]],
    exact: ServingModel,
    indexed: ServingModel,
) -> Row:
    def run(model: ServingModel) -> tuple[list[list[int]], float]:
        started = time.perf_counter()
        answers = [ask(model, question) for question in questions]
        return answers, (time.perf_counter() - started) * 1000 / len(questions)

    exact_answers, exact_ms = run(exact)
    indexed_answers, indexed_ms = run(indexed)
    recalls = [
        len(set(got) & set(want)) / len(want)
        for got, want in zip(indexed_answers, exact_answers, strict=True)
        if want
    ]
    return Row(
        question=name,
        rows_searched=rows_searched,
        questions=len(recalls),
        recall_at_10=round(float(np.mean(recalls)), 4),
        exact_ms=round(exact_ms, 3),
        indexed_ms=round(indexed_ms, 3),
        speedup=round(exact_ms / indexed_ms, 1),
    )


def with_customer_indexes(snapshot: LoadedSnapshot) -> LoadedSnapshot:
    """The snapshot with customer indexes (training builds them only on request): built
    here, in memory, the way training would."""
    if snapshot.arrays["customer_cosine_index"].size:
        return snapshot
    arrays = dict(snapshot.arrays)
    for name, build, rows in (
        ("customer_cosine_index", cosine_index, arrays["customer_unit"]),
        ("customer_product_index", product_index, arrays["customer_factors"]),
    ):
        started = time.perf_counter()
        arrays[name] = build(np.asarray(rows))
        print(f"built {name} in {time.perf_counter() - started:.1f} s", flush=True)
    return replace(snapshot, arrays=arrays)


def measure(snapshots: Path, questions: int, seed: int) -> list[Row]:
    snapshot = with_customer_indexes(load_latest(snapshots))
    exact = build_model(snapshot, ann_min_rows=sys.maxsize)
    indexed = build_model(snapshot, ann_min_rows=0)
    if indexed.item_cosine_index is None or indexed.customer_cosine_index is None:
        raise SystemExit(
            f"snapshot {snapshot.version} holds no vector indexes: its sides are below "
            "training's ANN_BUILD_MIN_ROWS (basketry.snapshot.vector_index)"
        )
    rng = np.random.default_rng(seed)
    trained_items = np.flatnonzero(exact.item_has_factors)
    warm = np.flatnonzero(exact.customer_warm)
    item_ids = [exact.item_ids[int(i)] for i in rng.choice(trained_items, questions)]
    customer_ids = [exact.customer_ids[int(c)] for c in rng.choice(warm, questions)]
    seeds = [tuple(exact.customer_ids[int(c)] for c in rng.choice(warm, 3)) for _ in customer_ids]
    allowed = allowed_items(exact, ItemFilter())

    def items_like(model: ServingModel, item_id: str) -> list[int]:
        return [s.index for s in similar_items(model, item_id, K, allowed.copy())]

    def customers_like(model: ServingModel, customer_id: str) -> list[int]:
        return [s.index for s in similar_customers(model, customer_id, K)]

    def audience(model: ServingModel, seed_ids: tuple[str, ...]) -> list[int]:
        return [s.index for s in lookalike(model, seed_ids, (), K).customers]

    def discover(model: ServingModel, customer_id: str) -> list[int]:
        query = RecommendQuery(customer_id, K, strategy=Strategy.DISCOVER_NEW)
        return [pick.item for pick in recommend(model, query, allowed).picks]

    n_items, n_customers = exact.n_items, exact.n_customers
    print(f"measuring {questions} questions each on {snapshot.version} ...", flush=True)
    return [
        compare("similar items", n_items, item_ids, items_like, exact, indexed),
        compare("similar customers", n_customers, customer_ids, customers_like, exact, indexed),
        compare("lookalike (3 seeds)", n_customers, seeds, audience, exact, indexed),
        compare("recommend discover-new", n_items, customer_ids, discover, exact, indexed),
    ]


def size(text: str) -> int:
    return int(float(text))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot-dir", type=Path, help="measure this snapshot instead")
    parser.add_argument("--lines", type=size, default=size("1e6"))
    parser.add_argument("--customers", type=size, default=size("1e5"))
    parser.add_argument("--items", type=size, default=size("1e5"))
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, help="keep generated files here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    snapshots = args.snapshot_dir
    if snapshots is None:
        work = args.work_dir or Path(tempfile.mkdtemp(prefix="basketry-ann-"))
        work.mkdir(parents=True, exist_ok=True)
        snapshots = train_snapshot(work, args.lines, args.customers, args.items)
    rows = measure(snapshots, args.questions, args.seed)
    columns = list(Row.__dataclass_fields__)
    print("  ".join(columns))
    for row in rows:
        print("  ".join(str(getattr(row, name)) for name in columns))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
