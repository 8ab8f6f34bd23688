"""End to end on the bundled UCI Online Retail data with the online-retail preset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basketry.snapshot import load_latest
from basketry.training.bad_rows import BAD_ROW_REASONS

Train = Callable[..., Any]  # the `train` fixture (conftest.py): runs `basketry train`

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "online_retail.csv.gz"
NO_DROPS = {"missing_order_id": 0, "missing_item_id": 0} | dict.fromkeys(BAD_ROW_REASONS, 0)

pytestmark = pytest.mark.skipif(not DATA.is_file(), reason="bundled data not present")


def test_known_clean_figures_without_the_product_filter(train: Train) -> None:
    # The data's README: 397,924 clean rows, 4,339 customers, 3,665 items, 18,536 orders,
    # 266,802 customer-item pairs (customer present, not cancelled, quantity > 0).
    run = train("--orders", str(DATA), "--preset", "online-retail", "--exclude-items-regex", "")
    assert run.code == 0, run.stderr
    snapshot = run.snapshot()
    info, counts = snapshot.manifest["input"], snapshot.counts
    assert info["rows_read"] == 541_909
    assert info["rows_clean"] == 397_924
    assert info["dropped"] == {
        **NO_DROPS,
        "cancellation": 9_288,
        "missing_customer": 134_697,
        "non_positive_quantity": 0,
        "non_product": 0,
    }
    assert (counts["customers"], counts["items"], counts["orders_total"]) == (4_339, 3_665, 18_536)
    assert counts["history_entries"] == 266_802


def test_preset_with_product_filter(train: Train) -> None:
    run = train("--orders", str(DATA), "--preset", "online-retail")
    assert run.code == 0, run.stderr
    snapshot = load_latest(run.snapshot_dir)
    info, counts, a = snapshot.manifest["input"], snapshot.counts, snapshot.arrays
    assert info["dropped"]["non_product"] == 1_554
    assert info["rows_clean"] == 396_370
    assert counts["customers"] == 4_335
    assert counts["items"] == 3_659
    assert counts["orders_total"] == 18_405
    assert (counts["orders"], counts["orders_too_big"]) == (18_200, 205)
    assert counts["history_entries"] == 266_226
    assert info["last_order_at"] == "2011-12-09T12:50:00+00:00"

    ids = set(a["item_ids"].tolist())
    assert not ids & {"POST", "DOT", "M", "C2", "D", "BANK CHARGES", "AMAZONFEE", "gift_0001_20"}
    assert "85123A" in ids  # codes with letters are products too
    assert "17850" in set(a["customer_ids"].tolist())
    assert (np.diff(a["history_indptr"]) > 0).all()
    assert (np.abs(a["customer_factors"]).sum(axis=1) > 0).all()  # no empty customer rows
    for row in range(0, counts["customers"], 97):  # columns sorted within each row
        start, stop = a["history_indptr"][row], a["history_indptr"][row + 1]
        assert (np.diff(a["history_items"][start:stop]) > 0).all()

    # Bought together with the regency cakestand: the matching regency teacups.
    cakestand = int(np.flatnonzero(a["item_ids"] == "22423")[0])
    start = a["pairs_indptr"][cakestand]
    partners = a["item_ids"][a["pairs_partner"][start : start + 3]].tolist()
    assert {"22697", "22699"} <= set(partners)
    assert (a["pairs_count"] >= 2).all() and (a["pairs_score"] > 0).all()
