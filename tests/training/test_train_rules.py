"""Co-purchase partners against independent oracles: mlxtend rules and brute-force E over orders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import association_rules, fpgrowth

from basketry.snapshot import LoadedSnapshot
from basketry.training.copurchase import size_buckets

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`

HEADER = ["order_id", "customer_id", "item_id", "quantity", "timestamp"]
N_ITEMS = 15


def random_baskets(
    seed: int, n_orders: int, max_size: int, n_items: int = N_ITEMS
) -> list[list[str]]:
    """Zipf-like popularity with two planted partner pairs; some items repeated in an order."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1)
    weights /= weights.sum()
    baskets = []
    for _ in range(n_orders):
        size = int(rng.integers(1, max_size + 1))
        items = set(rng.choice(n_items, size=min(size, n_items), replace=False, p=weights).tolist())
        if 3 in items and rng.random() < 0.6:
            items.add(7)
        if 1 in items and rng.random() < 0.5:
            items.add(11)
        lines = [f"I{i:02d}" for i in sorted(items)]
        if rng.random() < 0.2:
            lines.append(lines[0])  # the same item on two lines of one order
        baskets.append(lines)
    return baskets


def write_baskets(path: Path, baskets: list[list[str]]) -> Path:
    rows = [
        f"o{n},c{n % 40},{item},1,2024-01-01 {n // 60 % 24:02d}:{n % 60:02d}:00"
        for n, basket in enumerate(baskets)
        for item in basket
    ]
    path.write_text("\n".join([",".join(HEADER), *rows]) + "\n")
    return path


def brute_force(
    baskets: list[list[str]], min_pair_count: int
) -> dict[tuple[str, str], tuple[int, float]]:
    """(a, b) -> (n_ab, E_ab) for n_ab >= min_pair_count, E summed over the orders holding a."""
    sets = [set(b) for b in baskets]
    lines = sum(len(s) for s in sets)
    items = sorted(set().union(*sets))
    share = {b: sum(b in s for s in sets) / lines for b in items}
    result = {}
    for a in items:
        holding = [s for s in sets if a in s]
        for b in items:
            n_ab = sum(b in s for s in holding) if a != b else 0
            if n_ab >= min_pair_count:
                expected = sum(1 - (1 - share[b]) ** (len(s) - 1) for s in holding)
                result[(a, b)] = (n_ab, expected)
    return result


def our_pairs(snapshot: LoadedSnapshot) -> dict[tuple[str, str], tuple[int, float, float]]:
    a = snapshot.arrays
    ids, indptr = a["item_ids"], a["pairs_indptr"]
    pairs = {}
    for item in range(ids.shape[0]):
        scores = a["pairs_score"][indptr[item] : indptr[item + 1]]
        assert (np.diff(scores) <= 0).all(), "partners must be sorted by score, best first"
        for j in range(indptr[item], indptr[item + 1]):
            key = (str(ids[item]), str(ids[a["pairs_partner"][j]]))
            pairs[key] = (
                int(a["pairs_count"][j]),
                float(a["pairs_expected"][j]),
                float(a["pairs_score"][j]),
            )
    return pairs


def test_support_confidence_lift_equal_mlxtend(train: Train, tmp_path: Path) -> None:
    baskets = random_baskets(seed=11, n_orders=200, max_size=8)
    run = train("--orders", str(write_baskets(tmp_path / "b.csv", baskets)), "--top-partners", "15")
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    a = snapshot.arrays
    n_orders = snapshot.counts["orders"]
    item_orders = dict(zip(a["item_ids"].tolist(), a["item_orders"].tolist(), strict=True))

    onehot = pd.DataFrame([{item: True for item in basket} for basket in baskets]).fillna(False)
    frequent = fpgrowth(onehot.astype(bool), min_support=1e-9, max_len=2, use_colnames=True)
    rules = association_rules(frequent, num_itemsets=len(onehot), metric="support", min_threshold=0)
    oracle = {
        (next(iter(r.antecedents)), next(iter(r.consequents))): (r.support, r.confidence, r.lift)
        for r in rules.itertuples()
    }
    ours = our_pairs(snapshot)
    assert n_orders == len(baskets)
    assert len(ours) > 20
    for (x, y), (n_xy, _, _) in ours.items():
        support, confidence, lift = oracle[(x, y)]
        assert abs(n_xy / n_orders - support) <= 1e-9
        assert abs(n_xy / item_orders[x] - confidence) <= 1e-9
        assert abs(n_xy * n_orders / (item_orders[x] * item_orders[y]) - lift) <= 1e-9


def test_expected_counts_and_scores_equal_brute_force(train: Train, tmp_path: Path) -> None:
    baskets = random_baskets(seed=5, n_orders=200, max_size=8)  # 8 sizes: every size its own bucket
    snapshot = train(
        "--orders", str(write_baskets(tmp_path / "b.csv", baskets)), "--top-partners", "15"
    ).snapshot()
    ours = our_pairs(snapshot)
    truth = brute_force(baskets, min_pair_count=2)
    c = 0.25  # the default --chance-discount
    n_a = {item: sum(item in set(b) for b in baskets) for item in {i for b in baskets for i in b}}
    significant = {pair for pair, (n, e) in truth.items() if n - c * e > 0}
    assert set(ours) == significant
    assert ("I03", "I07") in ours and ("I01", "I11") in ours  # the planted partners
    for pair, (count, expected, score) in ours.items():
        n_ab, e_ab = truth[pair]
        assert count == n_ab
        assert expected == pytest.approx(e_ab, rel=1e-6)
        assert score == pytest.approx((n_ab - c * e_ab) / n_a[pair[0]], rel=1e-5)


def test_size_buckets_stay_close_to_brute_force(train: Train, tmp_path: Path) -> None:
    baskets = random_baskets(seed=3, n_orders=300, max_size=60, n_items=80)
    assert len({len(set(b)) for b in baskets}) > 40  # far more sizes than the 16 buckets
    path = write_baskets(tmp_path / "b.csv", baskets)
    snapshot = train("--orders", str(path), "--top-partners", "80").snapshot()
    truth = brute_force(baskets, min_pair_count=2)
    ours = our_pairs(snapshot)
    assert len(ours) > 100
    for pair, (_, expected, _) in ours.items():
        assert expected == pytest.approx(truth[pair][1], rel=0.02)


def test_top_k_and_big_baskets(train: Train, tmp_path: Path) -> None:
    baskets = random_baskets(seed=3, n_orders=300, max_size=40, n_items=60)
    path = write_baskets(tmp_path / "b.csv", baskets)
    snapshot = train(
        "--orders", str(path), "--top-partners", "2", "--max-basket-size", "10"
    ).snapshot()
    too_big = sum(len(set(b)) > 10 for b in baskets)
    assert snapshot.counts["orders_too_big"] == too_big
    assert snapshot.counts["orders"] == len(baskets) - too_big
    assert snapshot.counts["orders_total"] == len(baskets)
    assert np.diff(snapshot.arrays["pairs_indptr"]).max() == 2
    kept = [set(b) for b in baskets if len(set(b)) <= 10]
    ids = snapshot.arrays["item_ids"].tolist()
    assert snapshot.arrays["item_orders"].tolist() == [sum(i in s for s in kept) for i in ids]


def test_size_buckets_are_exact_for_few_sizes() -> None:
    sizes = np.array([1, 5, 5, 2, 9, 2])
    bucket, mean_size = size_buckets(sizes, max_buckets=4)
    assert mean_size[bucket].tolist() == sizes.tolist()
    bucket, mean_size = size_buckets(np.arange(1, 101), max_buckets=16)
    assert mean_size.shape[0] <= 16
    assert (np.diff(mean_size) > 0).all()
