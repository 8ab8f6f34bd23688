"""Mail rotation without gRPC: the SentPicksStore contract over both stores (in process and
a real Redis), the in-process store's bound, and the batch's exclusion and remembering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer

from basketry.server.batch import recommend_batch
from basketry.server.domain import Recommendation, RecommendQuery
from basketry.server.filters import allowed_items
from basketry.server.memory_sent_picks import InMemorySentPicks
from basketry.server.model import ServingModel
from basketry.server.redis_sent_picks import RedisSentPicks
from basketry.server.rotation import CampaignRotation
from basketry.server.sent_picks import SentPicksStore, SentPicksUnavailable
from basketry.server.settings import ServerSettings
from basketry.snapshot.redis_connection import redis_client

WINDOW = 1_000


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[SentPicksStore]:
    if request.param == "memory":
        yield InMemorySentPicks(WINDOW, clock=clock)
        return
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    client = redis_client(redis_server.url)
    yield RedisSentPicks(client, WINDOW, prefix="test:", clock=clock)
    client.close()


def test_sent_items_come_back_per_customer_and_campaign(store: SentPicksStore) -> None:
    store.remember("spring", {"c1": ["a", "b"], "c2": ["c"], "c3": []})
    store.remember("spring", {"c1": ["d"]})
    store.remember("summer", {"c1": ["z"]})
    assert store.sent("spring", ["c1", "c2", "c3", "c4"]) == {
        "c1": frozenset("abd"),
        "c2": frozenset("c"),
    }
    assert store.sent("summer", ["c1", "c2"]) == {"c1": frozenset("z")}
    assert store.sent("autumn", ["c1"]) == {}
    assert store.sent("spring", []) == {}


def test_campaign_and_customer_names_cannot_run_into_each_other(store: SentPicksStore) -> None:
    store.remember("a:b", {"c": ["x"]})
    assert store.sent("a", ["b:c"]) == {}
    assert store.sent("a:b", ["c"]) == {"c": frozenset("x")}


def test_items_leave_the_window_one_by_one(store: SentPicksStore, clock: Clock) -> None:
    store.remember("spring", {"c1": ["a"]})
    clock.now += 600
    store.remember("spring", {"c1": ["b"]})
    clock.now += 399
    assert store.sent("spring", ["c1"]) == {"c1": frozenset("ab")}
    clock.now += 1  # "a" was sent exactly one window ago: it may be sent again
    assert store.sent("spring", ["c1"]) == {"c1": frozenset("b")}
    store.remember("spring", {"c1": ["a"]})  # sending again restarts its window
    clock.now += 600
    assert store.sent("spring", ["c1"]) == {"c1": frozenset("a")}
    clock.now += 400
    assert store.sent("spring", ["c1"]) == {}


def test_redis_keys_expire_with_the_window(redis_server: RedisServer) -> None:
    client = redis_client(redis_server.url)
    try:
        RedisSentPicks(client, 5, prefix="t:").remember("spring", {"c1": ["a", "b"]})
        (key,) = client.keys("t:*")
        assert key == "t:sent:6:spring:c1"
        assert 0 < int(client.ttl(key)) <= 5
    finally:
        client.close()


def test_the_in_process_store_forgets_the_oldest_customers_beyond_its_bound(
    clock: Clock,
) -> None:
    evicted: list[int] = []
    store = InMemorySentPicks(WINDOW, max_customers=2, clock=clock, on_evict=evicted.append)
    store.remember("spring", {"c1": ["a"], "c2": ["b"]})
    store.remember("spring", {"c1": ["c"]})  # c1 is now the most recently written
    store.remember("spring", {"c3": ["d"]})
    assert set(store.sent("spring", ["c1", "c2", "c3"])) == {"c1", "c3"}
    assert evicted == [1] and store.held() == 2


def test_a_store_refuses_a_window_under_a_second() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        InMemorySentPicks(0)


def ids_of(model: ServingModel, answers: list[tuple[str, Recommendation]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for customer, answer in answers:
        found.setdefault(customer, set()).update(model.item_ids[p.item] for p in answer.picks)
    return found


def run_batch(
    model: ServingModel, customers: list[str], rotation: CampaignRotation | None
) -> dict[str, set[str]]:
    template = RecommendQuery(customer_id="", limit=8)
    allowed = allowed_items(model, template.item_filter)
    answers = list(
        recommend_batch(model, customers, template, allowed, rotation=rotation, chunk_size=5)
    )
    return ids_of(model, answers)


def test_a_campaign_batch_never_repeats_a_pick_within_the_window(
    synthetic_model: ServingModel, clock: Clock
) -> None:
    model = synthetic_model
    customers = [*model.customer_ids[:12], "nobody"]
    store = InMemorySentPicks(WINDOW, clock=clock)
    rotation = CampaignRotation(store, "weekly")
    first = run_batch(model, customers, rotation)
    second = run_batch(model, customers, rotation)
    for customer in customers:
        assert len(first[customer]) == len(second[customer]) == 8
        assert not first[customer] & second[customer], customer
    assert store.sent("weekly", customers) == {
        c: frozenset(first[c] | second[c]) for c in customers
    }
    # Without a rotation, or under another campaign, the first answers come back.
    assert run_batch(model, customers, None) == first
    assert run_batch(model, customers, CampaignRotation(store, "other")) == first
    clock.now += WINDOW
    assert run_batch(model, customers, rotation) == first


def test_an_abandoned_batch_remembers_only_what_was_delivered(
    synthetic_model: ServingModel,
) -> None:
    model = synthetic_model
    customers = list(model.customer_ids[:12])
    store = InMemorySentPicks(WINDOW)
    template = RecommendQuery(customer_id="", limit=3)
    answers = recommend_batch(
        model,
        customers,
        template,
        allowed_items(model, template.item_filter),
        rotation=CampaignRotation(store, "weekly"),
        chunk_size=5,
    )
    taken = [next(answers) for _ in range(7)]  # chunk 1 and two rows of chunk 2
    answers.close()
    # The 7th was taken but the 8th never asked for: the 7th counts as not delivered.
    delivered = ids_of(model, taken[:6])
    assert store.sent("weekly", customers) == {c: frozenset(i) for c, i in delivered.items()}


def test_a_dead_store_costs_rotation_not_answers(
    synthetic_model: ServingModel, redis_server: RedisServer
) -> None:
    model = synthetic_model
    customers = list(model.customer_ids[:6])
    errors: list[str] = []
    client = redis_client(redis_server.url)
    store = RedisSentPicks(client, WINDOW, on_error=errors.append)
    rotation = CampaignRotation(store, "weekly")
    first = run_batch(model, customers, rotation)
    redis_server.kill()
    try:
        assert run_batch(model, customers, rotation) == first  # nothing excluded, all answered
        with pytest.raises(SentPicksUnavailable, match="failed during sent_picks"):
            store.sent("weekly", customers)
    finally:
        client.close()
    assert "sent_picks" in errors and "remember_picks" in errors


def test_the_rotation_window_comes_from_the_settings() -> None:
    assert ServerSettings(snapshot_dir=Path("s")).rotation_seconds == 14 * 86_400
    assert ServerSettings(snapshot_dir=Path("s"), rotation_days=0).rotation_seconds == 0
    assert ServerSettings(snapshot_dir=Path("s"), rotation_days=1e-9).rotation_seconds == 1
    with pytest.raises(ValueError, match="rotation_days must be a non-negative"):
        ServerSettings(snapshot_dir=Path("s"), rotation_days=float("nan"))
    with pytest.raises(ValueError, match="max_rotation_customers must be at least 1"):
        ServerSettings(snapshot_dir=Path("s"), max_rotation_customers=0)
