"""The fake client: configured answers, server-like errors, and the real client's interface."""

from __future__ import annotations

import inspect

import pytest

from basketry.client import (
    BasketryClient,
    BasketryClientError,
    FakeBasketryClient,
    Fallback,
    InvalidArgument,
    ItemFilter,
    NotFound,
    Order,
    OrderLine,
    Reason,
    ScoredItem,
    Strategy,
    Unavailable,
)


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name in ("__enter__", "__exit__")
    }


def test_fake_has_every_public_method_of_the_real_client_with_the_same_signature() -> None:
    real = public_methods(BasketryClient)
    fake = public_methods(FakeBasketryClient)
    assert {
        "recommend",
        "recommend_batch",
        "bundle",
        "similar_items",
        "similar_customers",
        "lookalike",
        "record_orders",
        "model_info",
        "close",
    } <= set(real)
    for name, signature in real.items():
        assert name in fake, f"FakeBasketryClient lacks {name}"
        assert fake[name] == signature, f"{name}: fake {fake[name]} != real {signature}"
    assert isinstance(inspect.getattr_static(FakeBasketryClient, "target"), property)


@pytest.fixture
def fake() -> FakeBasketryClient:
    fake = FakeBasketryClient(model_version="test-model")
    fake.add_item("mug", name="Mug", category="kitchen", price=5.0)
    fake.add_item("plate", name="Plate", category="kitchen", price=12.0, in_stock=False)
    fake.add_item("lamp", name="Lamp", category="decor", price=30.0)
    fake.set_popular(["lamp", "mug", "plate"])
    fake.set_picks(
        "alice",
        [
            ScoredItem("plate", 0.9, Reason.BUY_AGAIN, because_item_ids=("mug",)),
            ScoredItem("lamp", 0.5, Reason.PERSONALIZED, because_item_ids=("plate",)),
        ],
    )
    return fake


def test_configured_picks_come_back_with_names_and_no_fallback(fake: FakeBasketryClient) -> None:
    answer = fake.recommend("alice", explain=True)
    assert [(i.item_id, i.name, i.reason) for i in answer.items] == [
        ("plate", "Plate", Reason.BUY_AGAIN),
        ("lamp", "Lamp", Reason.PERSONALIZED),
    ]
    assert answer.items[0].because_item_ids == ("mug",)
    assert answer.model_version == "test-model"
    assert answer.fallback is None
    assert fake.recommend("alice").items[0].because_item_ids == ()


def test_unknown_customer_gets_popular_items_as_cold_fallback(fake: FakeBasketryClient) -> None:
    answer = fake.recommend("nobody", limit=2)
    assert [i.item_id for i in answer.items] == ["lamp", "mug"]
    assert {i.reason for i in answer.items} == {Reason.POPULAR}
    assert answer.fallback is Fallback.COLD_CUSTOMER


def test_strategy_and_filters_apply(fake: FakeBasketryClient) -> None:
    assert [i.item_id for i in fake.recommend("alice", strategy="buy-again").items] == ["plate"]
    assert [i.item_id for i in fake.recommend("alice", strategy=Strategy.DISCOVER_NEW).items] == [
        "lamp"
    ]
    in_stock = fake.recommend("nobody", filter=ItemFilter(in_stock_only=True))
    assert [i.item_id for i in in_stock.items] == ["lamp", "mug"]
    cheap_kitchen = fake.recommend(
        "nobody", filter=ItemFilter(only_categories=["kitchen"], max_price=10.0)
    )
    assert [i.item_id for i in cheap_kitchen.items] == ["mug"]
    assert [i.item_id for i in fake.recommend("nobody", context_item_ids=["lamp"]).items] == [
        "mug",
        "plate",
    ]


def test_bad_arguments_raise_invalid_argument_naming_the_field(fake: FakeBasketryClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        fake.recommend("alice", limit=501)
    assert caught.value.fields == ("limit",)
    with pytest.raises(InvalidArgument) as caught:
        fake.recommend("")
    assert caught.value.fields == ("customer_id",)
    with pytest.raises(InvalidArgument):
        fake.bundle([])
    with pytest.raises(TypeError, match="single string"):
        fake.bundle("mug")


def test_batch_answers_every_customer_in_order(fake: FakeBasketryClient) -> None:
    answers = list(fake.recommend_batch(["nobody", "alice"], limit=1, campaign="spring"))
    assert [(a.customer_id, a.fallback, a.items[0].item_id) for a in answers] == [
        ("nobody", Fallback.COLD_CUSTOMER, "lamp"),
        ("alice", None, "plate"),
    ]
    assert fake.calls[-1].method == "recommend_batch"
    assert fake.calls[-1].arguments["campaign"] == "spring"


def test_batch_errors_arrive_when_the_stream_is_read_as_with_the_server(
    fake: FakeBasketryClient,
) -> None:
    answers = fake.recommend_batch([])
    with pytest.raises(InvalidArgument) as caught:
        next(answers)
    assert caught.value.fields == ("customer_ids",)
    fake.fail("recommend_batch", Unavailable("draining"))
    pending = fake.recommend_batch(["alice"])
    with pytest.raises(Unavailable):
        list(pending)


def test_bundles_merge_known_items_and_fall_back_for_unknown_ones(
    fake: FakeBasketryClient,
) -> None:
    fake.set_bundle("mug", ["plate", "lamp"])
    fake.set_bundle("lamp", ["plate"])
    merged = fake.bundle(["mug", "lamp", "ghost"])
    assert [(i.item_id, i.reason) for i in merged.items] == [("plate", Reason.BOUGHT_TOGETHER)]
    assert merged.items[0].because_item_ids == ("mug", "lamp")
    assert merged.fallback is None
    unknown = fake.bundle(["ghost"])
    assert unknown.fallback is Fallback.UNKNOWN_ITEM
    assert [i.item_id for i in unknown.items] == ["lamp", "mug", "plate"]


def test_unknown_ids_raise_not_found_like_the_server(fake: FakeBasketryClient) -> None:
    fake.set_similar_items("mug", ["plate"])
    assert [i.item_id for i in fake.similar_items("mug").items] == ["plate"]
    with pytest.raises(NotFound):
        fake.similar_items("ghost")
    fake.set_similar_customers("alice", ["bob", "carol"])
    assert [c.customer_id for c in fake.similar_customers("alice", limit=1).customers] == ["bob"]
    with pytest.raises(NotFound):
        fake.similar_customers("ghost")


def test_lookalike_leaves_out_seeds(fake: FakeBasketryClient) -> None:
    fake.set_lookalike(["bob", "alice", "carol"])
    audience = fake.lookalike(seed_customer_ids=["alice", "stranger"], limit=5)
    assert [c.customer_id for c in audience.customers] == ["bob", "carol"]
    assert audience.seed_size == 1
    with pytest.raises(InvalidArgument):
        fake.lookalike()


def test_record_orders_is_idempotent_by_order_id(fake: FakeBasketryClient) -> None:
    order = Order("o1", "alice", [OrderLine("mug", 2.0)])
    assert fake.record_orders([order]).accepted == 1
    again = fake.record_orders([order, Order("o2", "bob", [OrderLine("lamp", 1.0, 30.0)])])
    assert (again.accepted, again.duplicates) == (1, 1)
    assert [o.order_id for o in fake.recorded_orders] == ["o1", "o2"]
    with pytest.raises(InvalidArgument) as caught:
        fake.record_orders([Order("o3", "bob", [OrderLine("lamp", 0.0)])])
    assert caught.value.fields == ("orders[0].lines[0].quantity",)


def test_configured_failures_are_raised_until_cleared(fake: FakeBasketryClient) -> None:
    fake.fail("recommend", Unavailable("down for maintenance"))
    with pytest.raises(Unavailable, match="maintenance"):
        fake.recommend("alice")
    fake.fail("recommend", None)
    assert fake.recommend("alice").items
    with pytest.raises(ValueError, match="no method"):
        fake.fail("recomend", Unavailable("typo"))


def test_closed_fake_refuses_calls(fake: FakeBasketryClient) -> None:
    with fake as client:
        assert client.model_info().model_version == "test-model"
    with pytest.raises(BasketryClientError, match="closed"):
        fake.recommend("alice")
