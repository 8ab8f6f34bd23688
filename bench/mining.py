"""Co-purchase mining against mlxtend's FP-growth + association_rules, same data, same values.

Both mine item pairs bought together in at least --min-pair-count orders (the training
default): Basketry with `build_baskets` + `mine_partners` (all pair counts, the expected
counts, scores and each item's top-K — everything training does), mlxtend with `fpgrowth(...,
max_len=2)` + `association_rules` on the same baskets (one-hot, sparse). Before timing
anything it checks the values agree: every pair mlxtend finds has Basketry's co-occurrence
count (support x orders), and every partner Basketry keeps has mlxtend's support, confidence
and lift. Prints a table, writes JSON (--json). Data: the bundled Online Retail file, or
--orders FILE (with --preset/column flags as `basketry train` takes them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth

from basketry.training.cli import add_input_arguments, add_model_arguments, config_from_args
from basketry.training.config import RulesSettings
from basketry.training.copurchase import Baskets, Partners, build_baskets, mine_partners
from basketry.training.matrices import index_lines
from basketry.training.pipeline import prepare_orders
from basketry.training.progress import Stages

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "examples" / "data" / "online_retail.csv.gz"


def ours(
    order_idx: np.ndarray, item_idx: np.ndarray, n_orders: int, n_items: int, rules: RulesSettings
) -> tuple[Baskets, Partners]:
    baskets = build_baskets(
        order_idx, item_idx, n_orders=n_orders, n_items=n_items,
        max_basket_size=rules.max_basket_size,
    )  # fmt: skip
    partners = mine_partners(
        baskets,
        min_pair_count=rules.min_pair_count,
        top_k=rules.top_k,
        max_buckets=rules.size_buckets,
        chance_discount=rules.chance_discount,
    )
    return baskets, partners


def theirs(one_hot: pd.DataFrame, min_support: float) -> pd.DataFrame:
    itemsets = fpgrowth(one_hot, min_support=min_support, max_len=2, use_colnames=False)
    return association_rules(itemsets, metric="confidence", min_threshold=0.0)


def check_equal(baskets: Baskets, partners: Partners, rules: pd.DataFrame, min_count: int) -> int:
    """Raise if the two disagree; returns the number of pairs compared."""
    n = baskets.orders
    matrix = baskets.matrix
    co = (matrix.T @ matrix).tocsr()
    antecedent = np.array([next(iter(s)) for s in rules["antecedents"]])
    consequent = np.array([next(iter(s)) for s in rules["consequents"]])
    counts = np.rint(rules["support"].to_numpy() * n).astype(np.int64)
    ours_counts = np.asarray(co[antecedent, consequent]).ravel()
    if not np.array_equal(counts, ours_counts):
        raise AssertionError("pair counts differ between mlxtend and Basketry")
    # Same set of pairs: every off-diagonal count >= min_count is one of mlxtend's rules
    # (both hold each pair in both directions).
    frequent = int(((co.data >= min_count).sum()) - (co.diagonal() >= min_count).sum())
    if frequent != len(rules):
        raise AssertionError(f"Basketry has {frequent} frequent pairs, mlxtend {len(rules)}")
    # Every kept partner: confidence and lift as mlxtend computes them.
    by_pair = {
        (int(a), int(b)): (c, lift)
        for a, b, c, lift in zip(
            antecedent, consequent, rules["confidence"], rules["lift"], strict=True
        )
    }
    item_orders = baskets.item_orders
    for a in range(partners.indptr.size - 1):
        for k in range(int(partners.indptr[a]), int(partners.indptr[a + 1])):
            b = int(partners.partner[k])
            confidence, lift = by_pair[(a, b)]
            n_ab = int(partners.count[k])
            if not np.isclose(confidence, n_ab / item_orders[a]) or not np.isclose(
                lift, n_ab * n / (item_orders[a] * item_orders[b])
            ):
                raise AssertionError(f"confidence/lift differ for pair {a}, {b}")
    return len(rules)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_input_arguments(parser)
    add_model_arguments(parser)
    parser.set_defaults(keep=1, quiet=True)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of Basketry (best)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    argv = sys.argv[1:]
    if "--orders" not in argv:
        argv = ["--orders", str(BUNDLED), "--preset", "online-retail", *argv]
    args = parser.parse_args(argv)
    config = config_from_args(args, snapshot_dir=Path("unused"))
    prepared = prepare_orders(config, Stages(quiet=True))
    indexed = index_lines(prepared.cleaned.lines)
    order_idx = indexed.lines["order_idx"].to_numpy()
    item_idx = indexed.lines["item_idx"].to_numpy()
    n_orders, n_items = indexed.order_count, indexed.item_ids.shape[0]

    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        baskets, partners = ours(order_idx, item_idx, n_orders, n_items, config.rules)
        best = min(best, time.perf_counter() - started)
    one_hot = pd.DataFrame.sparse.from_spmatrix(baskets.matrix.astype(bool))
    min_support = config.rules.min_pair_count / baskets.orders
    print(f"{baskets.orders:,} baskets x {n_items:,} items; mlxtend fpgrowth ...", flush=True)
    started = time.perf_counter()
    rules = theirs(one_hot, min_support)
    mlxtend_seconds = time.perf_counter() - started
    compared = check_equal(baskets, partners, rules, config.rules.min_pair_count)

    figures = {
        "baskets": baskets.orders,
        "items": n_items,
        "frequent_pairs": compared,
        "basketry_seconds": round(best, 3),
        "mlxtend_seconds": round(mlxtend_seconds, 3),
        "speedup": round(mlxtend_seconds / best, 1),
    }
    print(f"{'figure':<28}{'value':>12}")
    for name, value in figures.items():
        print(f"{name:<28}{value:>12}")
    print("values equal: pair counts, confidence and lift of every kept partner")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
