"""The in-process answer cache and the request key, without gRPC: TTL on an injected clock,
LRU bound, per-customer invalidation, and answers computed across an invalidation."""

from __future__ import annotations

import pytest

from basketry.server.answer_cache import (
    AnswerCache,
    AnswerCacheUnavailable,
    AnswerKey,
    CacheResult,
    Lookup,
    ReadThroughCache,
    answer_key,
)
from basketry.server.domain import RecommendQuery, Strategy
from basketry.server.filters import ItemFilter
from basketry.server.memory_answer_cache import InMemoryAnswerCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(customer_id: str = "c1", digest: str = "d1", version: str = "v1") -> AnswerKey:
    return AnswerKey(version=version, customer_id=customer_id, request_digest=digest)


def test_an_answer_is_served_until_its_ttl_runs_out() -> None:
    clock = FakeClock()
    cache = InMemoryAnswerCache(ttl=60.0, max_entries=10, clock=clock)
    assert cache.lookup(key()) == Lookup(None, 0)
    cache.store(key(), 0, b"answer")
    clock.now += 59.9
    assert cache.lookup(key()).answer == b"answer"
    clock.now += 0.1
    assert cache.lookup(key()).answer is None
    assert len(cache) == 0


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = InMemoryAnswerCache(ttl=60.0, max_entries=2, clock=FakeClock())
    cache.store(key(digest="a"), 0, b"a")
    cache.store(key(digest="b"), 0, b"b")
    assert cache.lookup(key(digest="a")).answer == b"a"  # now b is the oldest use
    cache.store(key(digest="c"), 0, b"c")
    assert len(cache) == 2
    assert cache.lookup(key(digest="b")).answer is None
    assert cache.lookup(key(digest="a")).answer == b"a"
    assert cache.lookup(key(digest="c")).answer == b"c"


def test_invalidating_a_customer_drops_only_their_answers() -> None:
    cache = InMemoryAnswerCache(ttl=60.0, max_entries=10, clock=FakeClock())
    cache.store(key("c1", "a"), 0, b"1a")
    cache.store(key("c1", "b", version="v2"), 0, b"1b")
    cache.store(key("c2", "a"), 0, b"2a")
    cache.invalidate(["c1"])
    assert cache.lookup(key("c1", "a")) == Lookup(None, 1)
    assert cache.lookup(key("c1", "b", version="v2")).answer is None
    assert cache.lookup(key("c2", "a")).answer == b"2a"
    assert len(cache) == 1


def test_an_answer_computed_before_an_order_was_recorded_is_not_kept() -> None:
    cache = InMemoryAnswerCache(ttl=60.0, max_entries=10, clock=FakeClock())
    before = cache.lookup(key())  # a miss: the answer is computed from the old orders...
    cache.invalidate(["c1"])  # ...while an order is recorded
    cache.store(key(), before.generation, b"stale")
    assert cache.lookup(key()).answer is None
    fresh = cache.lookup(key())
    cache.store(key(), fresh.generation, b"fresh")
    assert cache.lookup(key()).answer == b"fresh"


def test_forgetting_a_generation_forgets_the_customers_answers() -> None:
    cache = InMemoryAnswerCache(ttl=60.0, max_entries=1, clock=FakeClock())
    cache.invalidate(["c1"])
    cache.store(key("c1"), cache.lookup(key("c1")).generation, b"c1")
    cache.invalidate(["c2"])  # only one generation is kept: c1's goes, with its answer
    assert cache.lookup(key("c1")) == Lookup(None, 0)


def test_the_key_is_the_normalised_request_against_one_version() -> None:
    query = RecommendQuery(customer_id="c1", limit=10)
    assert answer_key("v1", query) == answer_key("v1", RecommendQuery(customer_id="c1", limit=10))
    assert answer_key("v1", query).customer_id == "c1"
    variants = [
        RecommendQuery(customer_id="c1", limit=11),
        RecommendQuery(customer_id="c1", limit=10, strategy=Strategy.BUY_AGAIN),
        RecommendQuery(customer_id="c1", limit=10, explain=True),
        RecommendQuery(customer_id="c1", limit=10, context_item_ids=("i1",)),
        RecommendQuery(customer_id="c1", limit=10, item_filter=ItemFilter(min_price=2.0)),
        RecommendQuery(customer_id="c1", limit=10, item_filter=ItemFilter(in_stock_only=True)),
    ]
    digests = {answer_key("v1", variant).request_digest for variant in variants}
    assert len(digests | {answer_key("v1", query).request_digest}) == len(variants) + 1
    assert answer_key("v2", query) != answer_key("v1", query)


class BrokenCache(AnswerCache):
    def __init__(self, *, bypassed: bool) -> None:
        self.bypassed = bypassed

    def lookup(self, key: AnswerKey) -> Lookup:
        raise AnswerCacheUnavailable("down", bypassed=self.bypassed)

    def store(self, key: AnswerKey, generation: int, answer: bytes) -> None:
        raise AnswerCacheUnavailable("down", bypassed=self.bypassed)

    def invalidate(self, customer_ids: object) -> None:
        raise AnswerCacheUnavailable("down", bypassed=self.bypassed)


@pytest.mark.parametrize(
    ("bypassed", "result"), [(False, CacheResult.ERROR), (True, CacheResult.BYPASS)]
)
def test_a_failing_cache_is_counted_and_answered_around(
    bypassed: bool, result: CacheResult
) -> None:
    results: list[CacheResult] = []
    read_through = ReadThroughCache(BrokenCache(bypassed=bypassed), results.append)
    assert read_through.answer(key(), lambda: (b"computed", True)) == b"computed"
    read_through.customers_ordered(["c1"])  # logged, not raised: the orders are recorded
    assert results == [result]


def test_read_through_computes_once_then_hits() -> None:
    results: list[CacheResult] = []
    computed: list[int] = []

    def compute() -> tuple[bytes, bool]:
        computed.append(1)
        return b"answer", True

    read_through = ReadThroughCache(InMemoryAnswerCache(60.0, 10), results.append)
    assert read_through.answer(key(), compute) == b"answer"
    assert read_through.answer(key(), compute) == b"answer"
    read_through.customers_ordered(["c1", "c1"])
    assert read_through.answer(key(), compute) == b"answer"
    assert results == [CacheResult.MISS, CacheResult.HIT, CacheResult.MISS]
    assert len(computed) == 2


def test_an_answer_degraded_by_a_failing_dependency_is_not_cached() -> None:
    results: list[CacheResult] = []
    read_through = ReadThroughCache(InMemoryAnswerCache(60.0, 10), results.append)
    assert read_through.answer(key(), lambda: (b"degraded", False)) == b"degraded"
    assert read_through.answer(key(), lambda: (b"whole", True)) == b"whole"
    assert read_through.answer(key(), lambda: (b"other", True)) == b"whole"
    assert results == [CacheResult.MISS, CacheResult.MISS, CacheResult.HIT]
