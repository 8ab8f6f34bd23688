"""`FakeBasketryClient`: the client's interface over canned in-memory answers.

For downstream teams' tests: configure what the "server" knows, then hand the fake to
the code under test wherever it expects a `BasketryClient`.

    fake = FakeBasketryClient(model_version="test-model")
    fake.add_item("85123A", name="WHITE HANGING HEART T-LIGHT HOLDER", category="decor")
    fake.set_popular(["85123A", "22423"])
    fake.set_picks("17850", ["22423", "85123A"])         # plain ids or ScoredItem
    fake.set_bundle("85123A", ["22423"])
    fake.fail("recommend", Unavailable("server down"))   # next recommend calls raise

It answers the way the server does: an unknown customer gets the popular items with
`Fallback.COLD_CUSTOMER`, a basket of unknown items gets them with
`Fallback.UNKNOWN_ITEM`, `similar_items` / `similar_customers` raise `NotFound` for
unknown ids, and bad arguments raise `InvalidArgument` naming the field. Filters apply
to the catalog data given to `add_item`; `record_orders` stores orders in memory
(idempotent by order id) so tests can inspect `recorded_orders`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from basketry.client import _fake_rules as rules
from basketry.client._errors import BasketryClientError, NotFound
from basketry.client._fake_state import FakeServerState
from basketry.client._types import (
    Bundle,
    CustomerRecommendation,
    Fallback,
    ItemFilter,
    Lookalike,
    ModelInfo,
    Order,
    Recommendation,
    RecordResult,
    ScoredItem,
    SimilarCustomers,
    SimilarItems,
    Strategy,
    id_tuple,
    parse_strategy,
)


@dataclass(frozen=True)
class FakeCall:
    """One call the fake received, with its arguments by name."""

    method: str
    arguments: dict[str, Any] = field(default_factory=dict)


class FakeBasketryClient(FakeServerState):
    """In-memory stand-in for `BasketryClient` (same public methods and signatures).

    Configure it with the `add_*`, `set_*` and `fail` methods of `FakeServerState`.
    """

    def __init__(self, *, model_version: str = "fake-model") -> None:
        super().__init__(model_version=model_version)
        self.calls: list[FakeCall] = []

    # ----- the client interface ----------------------------------------------------------

    @property
    def target(self) -> str:
        return "fake"

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def recommend(
        self,
        customer_id: str,
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        context_item_ids: Sequence[str] = (),
        strategy: Strategy | str = Strategy.BALANCED,
        explain: bool = False,
        timeout: float | None = None,
    ) -> Recommendation:
        self._enter("recommend", locals())
        context = id_tuple(context_item_ids, "context_item_ids")
        rules.check_customer_id(customer_id, "customer_id")
        count = rules.check_limit(limit, 500, 10)
        items, fallback = self._picks_for(customer_id, parse_strategy(strategy), filter, context)
        return Recommendation(
            items=rules.finish(items[:count], explain),
            model_version=self.model_version,
            fallback=fallback,
        )

    def recommend_batch(
        self,
        customer_ids: Sequence[str],
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        strategy: Strategy | str = Strategy.BALANCED,
        explain: bool = False,
        campaign: str = "",
        timeout: float | None = None,
    ) -> Generator[CustomerRecommendation, None, None]:
        self.calls.append(FakeCall("recommend_batch", _arguments(locals())))
        ids = id_tuple(customer_ids, "customer_ids")
        # Like the real client: argument types are checked at the call, while the
        # server's verdicts (errors, answers) arrive when the stream is iterated.
        return self._batch_answers(ids, limit, filter, parse_strategy(strategy), explain)

    def bundle(
        self,
        item_ids: Sequence[str],
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        timeout: float | None = None,
    ) -> Bundle:
        self._enter("bundle", locals())
        basket = id_tuple(item_ids, "item_ids")
        rules.check_count(basket, "item_ids", 100)
        count = rules.check_limit(limit, 500, 10)
        known = [item_id for item_id in basket if item_id in self._catalog]
        if not known:
            popular = [self._bundle_item(i.item_id, n, None) for n, i in enumerate(self._popular)]
            items = rules.allowed(popular, filter, basket, self._catalog)
            return Bundle(tuple(items[:count]), self.model_version, Fallback.UNKNOWN_ITEM)
        merged = rules.merge_bundles([self._bundles.get(item_id, ()) for item_id in known])
        items = rules.allowed(merged, filter, basket, self._catalog)
        return Bundle(tuple(items[:count]), self.model_version, None)

    def similar_items(
        self,
        item_id: str,
        *,
        limit: int = 10,
        filter: ItemFilter | None = None,
        timeout: float | None = None,
    ) -> SimilarItems:
        self._enter("similar_items", locals())
        rules.check_customer_id(item_id, "item_id")
        count = rules.check_limit(limit, 500, 10)
        if item_id not in self._catalog:
            raise NotFound(f"unknown item {item_id!r}", method="SimilarItems")
        candidates = self._similar_items.get(item_id, ())
        items = rules.allowed(candidates, filter, (item_id,), self._catalog)
        return SimilarItems(tuple(items[:count]), self.model_version)

    def similar_customers(
        self, customer_id: str, *, limit: int = 10, timeout: float | None = None
    ) -> SimilarCustomers:
        self._enter("similar_customers", locals())
        rules.check_customer_id(customer_id, "customer_id")
        count = rules.check_limit(limit, 10_000, 10)
        if customer_id not in self._customers:
            raise NotFound(f"unknown customer {customer_id!r}", method="SimilarCustomers")
        customers = self._similar_customers.get(customer_id, ())
        return SimilarCustomers(customers[:count], self.model_version)

    def lookalike(
        self,
        *,
        seed_customer_ids: Sequence[str] = (),
        seed_item_ids: Sequence[str] = (),
        limit: int = 100,
        timeout: float | None = None,
    ) -> Lookalike:
        self._enter("lookalike", locals())
        seeds = set(id_tuple(seed_customer_ids, "seed_customer_ids"))
        seed_items = id_tuple(seed_item_ids, "seed_item_ids")
        rules.check_seeds(seeds, seed_items)
        count = rules.check_limit(limit, 10_000, 100)
        audience = tuple(c for c in self._lookalike if c.customer_id not in seeds)
        return Lookalike(audience[:count], self.model_version, len(seeds & self._customers))

    def record_orders(
        self, orders: Sequence[Order], *, timeout: float | None = None
    ) -> RecordResult:
        self._enter("record_orders", locals())
        batch = tuple(orders)
        rules.check_orders(batch)
        accepted = 0
        for order in batch:
            if order.order_id not in self._orders:
                self._orders[order.order_id] = order
                accepted += 1
        return RecordResult(accepted=accepted, duplicates=len(batch) - accepted)

    def model_info(self, *, timeout: float | None = None) -> ModelInfo:
        self._enter("model_info", locals())
        if self._model_info is not None:
            return self._model_info
        counts = {"customers": len(self._customers), "items": len(self._catalog)}
        return ModelInfo(self.model_version, None, schema_version=1, counts=counts)

    # ----- helpers -----------------------------------------------------------------------

    def _enter(self, method: str, arguments: dict[str, Any]) -> None:
        self.calls.append(FakeCall(method, _arguments(arguments)))
        self._raise_configured_failure(method)

    def _raise_configured_failure(self, method: str) -> None:
        if self._closed:
            raise BasketryClientError("the fake client is closed")
        failure = self._failures.get(method)
        if failure is not None:
            raise failure

    def _batch_answers(
        self,
        ids: tuple[str, ...],
        limit: int,
        item_filter: ItemFilter | None,
        strategy: Strategy,
        explain: bool,
    ) -> Generator[CustomerRecommendation, None, None]:
        self._raise_configured_failure("recommend_batch")
        rules.check_count(ids, "customer_ids", 10_000)
        for index, customer_id in enumerate(ids):
            rules.check_customer_id(customer_id, f"customer_ids[{index}]")
        count = rules.check_limit(limit, 500, 10)
        for customer_id in ids:
            items, fallback = self._picks_for(customer_id, strategy, item_filter, ())
            yield CustomerRecommendation(
                customer_id=customer_id,
                items=rules.finish(items[:count], explain),
                model_version=self.model_version,
                fallback=fallback,
            )

    def _picks_for(
        self,
        customer_id: str,
        strategy: Strategy,
        item_filter: ItemFilter | None,
        context: tuple[str, ...],
    ) -> tuple[list[ScoredItem], Fallback | None]:
        if customer_id not in self._customers:
            return rules.allowed(self._popular, item_filter, context, self._catalog), (
                Fallback.COLD_CUSTOMER
            )
        picks = rules.by_strategy(self._picks.get(customer_id, ()), strategy)
        return rules.allowed(picks, item_filter, context, self._catalog), None


def _arguments(local_names: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in local_names.items() if name != "self"}
