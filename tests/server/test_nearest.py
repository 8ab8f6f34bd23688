"""Approximate top-k: the size switch, equal answers where the index is exact, and recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.synthetic import publish_synthetic_snapshot

from basketry.server import nearest
from basketry.server.domain import RecommendQuery, ScoredIndex, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.model import ServingModel, build_model
from basketry.server.recommend import recommend
from basketry.server.similarity import lookalike, similar_customers, similar_items
from basketry.snapshot import load_latest
from basketry.snapshot.vector_index import cosine_index, product_index, view_index

N_CUSTOMERS, N_ITEMS = 200, 120


@pytest.fixture(scope="module")
def indexed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic snapshot that holds vector indexes for both sides."""
    directory = tmp_path_factory.mktemp("indexed")
    publish_synthetic_snapshot(directory, n_customers=N_CUSTOMERS, n_items=N_ITEMS, ann_min_rows=0)
    return directory


@pytest.fixture(scope="module")
def exact_model(indexed_dir: Path) -> ServingModel:
    return build_model(load_latest(indexed_dir), ann_min_rows=N_CUSTOMERS + 1)


@pytest.fixture(scope="module")
def indexed_model(indexed_dir: Path) -> ServingModel:
    return build_model(load_latest(indexed_dir), ann_min_rows=0)


@pytest.fixture
def every_row_a_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The index proposes every row, so its answers must equal exact ones. (With fewer
    candidates an HNSW graph is approximate even at this size: near-equal scores of the
    synthetic factors, compared in float16 inside the index, may swap a 10th and 11th row.)"""
    monkeypatch.setattr(nearest, "MIN_CANDIDATES", max(N_CUSTOMERS, N_ITEMS))


def _assert_same(answer: list[ScoredIndex], expected: list[ScoredIndex]) -> None:
    """Same rows in the same order; scores equal up to float32 rounding (the index path
    multiplies only its candidates, which may round the last bit differently)."""
    assert [s.index for s in answer] == [s.index for s in expected]
    assert [s.score for s in answer] == pytest.approx(
        [s.score for s in expected], rel=1e-5, abs=1e-6
    )


def _indexes(model: ServingModel) -> list[bool]:
    return [
        index is not None
        for index in (
            model.item_cosine_index,
            model.item_product_index,
            model.customer_cosine_index,
            model.customer_product_index,
        )
    ]


def test_indexes_are_used_from_the_threshold_per_side(indexed_dir: Path) -> None:
    snapshot = load_latest(indexed_dir)
    assert _indexes(build_model(snapshot, ann_min_rows=N_ITEMS)) == [True] * 4
    assert _indexes(build_model(snapshot, ann_min_rows=N_ITEMS + 1)) == [False, False, True, True]
    assert _indexes(build_model(snapshot, ann_min_rows=N_CUSTOMERS + 1)) == [False] * 4


def test_exact_by_default_and_without_stored_indexes(
    tmp_path: Path, synthetic_model: ServingModel
) -> None:
    assert _indexes(synthetic_model) == [False] * 4  # default threshold above its sizes
    publish_synthetic_snapshot(tmp_path, n_customers=N_CUSTOMERS, n_items=N_ITEMS)
    snapshot = load_latest(tmp_path)
    assert snapshot.arrays["item_cosine_index"].size == 0  # training's threshold: none built
    assert _indexes(build_model(snapshot, ann_min_rows=0)) == [False] * 4


@pytest.mark.usefixtures("every_row_a_candidate")
def test_similar_items_with_the_index_equal_exact(
    exact_model: ServingModel, indexed_model: ServingModel
) -> None:
    filters = [ItemFilter(), ItemFilter(only_categories=("cat1",), in_stock_only=True)]
    for item_filter in filters:
        allowed = allowed_items(exact_model, item_filter)
        for item_id in exact_model.item_ids:
            expected = similar_items(exact_model, item_id, 10, allowed.copy())
            _assert_same(similar_items(indexed_model, item_id, 10, allowed.copy()), expected)


@pytest.mark.usefixtures("every_row_a_candidate")
def test_similar_customers_and_lookalike_with_the_index_equal_exact(
    exact_model: ServingModel, indexed_model: ServingModel
) -> None:
    customers = list(exact_model.customer_ids)
    for customer_id in customers:
        expected = similar_customers(exact_model, customer_id, 10)
        _assert_same(similar_customers(indexed_model, customer_id, 10), expected)
    for seeds, items in [
        (tuple(customers[:3]), ()),
        ((), ("i004", "i005")),
        (("c0007",), ("i010",)),
    ]:
        expected_audience = lookalike(exact_model, seeds, items, 15)
        audience = lookalike(indexed_model, seeds, items, 15)
        assert audience.seed_size == expected_audience.seed_size
        _assert_same(audience.customers, expected_audience.customers)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_recommend_with_the_item_index_equals_exact(
    exact_model: ServingModel, indexed_model: ServingModel, strategy: Strategy
) -> None:
    # 120 items < LATENT_CANDIDATES: the index proposes every item, so picks must agree.
    allowed = allowed_items(exact_model, ItemFilter())
    for customer_id in list(exact_model.customer_ids)[::7]:
        query = RecommendQuery(customer_id=customer_id, limit=10, strategy=strategy)
        expected = recommend(exact_model, query, allowed)
        answer = recommend(indexed_model, query, allowed)
        assert [p.item for p in answer.picks] == [p.item for p in expected.picks]
        assert [p.score for p in answer.picks] == pytest.approx([p.score for p in expected.picks])


def test_a_filter_too_tight_for_the_index_falls_back_to_exact(
    exact_model: ServingModel, indexed_model: ServingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nearest, "MIN_CANDIDATES", 4)
    monkeypatch.setattr(nearest, "MAX_CANDIDATES", 8)
    item_id = exact_model.item_ids[0]
    # The items least like it: never among the index's first candidates.
    scores = exact_model.item_unit @ exact_model.item_unit[0]
    allowed = np.zeros(exact_model.n_items, dtype=np.bool_)
    allowed[np.argsort(scores)[:3]] = True
    query = exact_model.item_unit[0]
    assert indexed_model.item_cosine_index is not None
    no_answer = nearest.indexed_top_k(
        indexed_model.item_cosine_index, query, allowed, 2, lambda rows: scores[rows]
    )
    assert no_answer is None
    expected = similar_items(exact_model, item_id, 2, allowed.copy())
    assert len(expected) == 2
    _assert_same(similar_items(indexed_model, item_id, 2, allowed.copy()), expected)


def _recall_at_10(found: list[np.ndarray], exact: np.ndarray) -> float:
    return float(
        np.mean([np.isin(row[:10], truth).mean() for row, truth in zip(found, exact, strict=True)])
    )


def test_recall_at_10_on_a_mid_size_random_case() -> None:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((50, 16)).astype(np.float32)
    rows = centres[rng.integers(0, 50, 20_000)] + rng.standard_normal((20_000, 16)).astype(
        np.float32
    )
    rows *= rng.lognormal(0.0, 0.4, (20_000, 1)).astype(np.float32)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    # Queries like the rows (as customer factors are like item factors): 200 held out.
    rows, queries = rows[200:], rows[:200]
    unit = unit[200:]

    cosine = view_index(cosine_index(unit), ndim=16)
    product = view_index(product_index(rows), ndim=16)
    assert cosine is not None and product is not None
    exact_cosine = np.argsort(-(queries @ unit.T), axis=1)[:, :10]
    exact_product = np.argsort(-(queries @ rows.T), axis=1)[:, :10]
    assert _recall_at_10(cosine.nearest(queries, 10), exact_cosine) >= 0.98
    assert _recall_at_10(product.nearest(queries, 10), exact_product) >= 0.98
