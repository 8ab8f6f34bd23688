"""The canned data behind `FakeBasketryClient` and the methods that configure it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from basketry.client import _fake_rules as rules
from basketry.client._errors import BasketryClientError
from basketry.client._fake_rules import CatalogItem
from basketry.client._types import (
    BundleItem,
    ModelInfo,
    Order,
    Reason,
    ScoredCustomer,
    ScoredItem,
)


class FakeServerState:
    """What the fake "server" knows; plain ids given to `set_*` get descending scores."""

    def __init__(self, *, model_version: str = "fake-model") -> None:
        self.model_version = model_version
        self._catalog: dict[str, CatalogItem] = {}
        self._customers: set[str] = set()
        self._popular: tuple[ScoredItem, ...] = ()
        self._picks: dict[str, tuple[ScoredItem, ...]] = {}
        self._bundles: dict[str, tuple[BundleItem, ...]] = {}
        self._similar_items: dict[str, tuple[ScoredItem, ...]] = {}
        self._similar_customers: dict[str, tuple[ScoredCustomer, ...]] = {}
        self._lookalike: tuple[ScoredCustomer, ...] = ()
        self._orders: dict[str, Order] = {}
        self._failures: dict[str, BasketryClientError] = {}
        self._model_info: ModelInfo | None = None
        self._closed = False

    def add_item(
        self,
        item_id: str,
        *,
        name: str = "",
        category: str = "",
        price: float | None = None,
        in_stock: bool = True,
    ) -> None:
        """Makes an item known; its name shows in answers, the rest drives filters."""
        self._catalog[item_id] = CatalogItem(name, category, price, in_stock)

    def add_customers(self, customer_ids: Iterable[str]) -> None:
        """Makes customers known without giving them picks (they get popular items)."""
        self._customers.update(customer_ids)

    def set_popular(self, items: Sequence[ScoredItem | str]) -> None:
        """The fallback answer for cold customers and unknown baskets."""
        self._popular = self._scored(items, Reason.POPULAR)

    def set_picks(self, customer_id: str, items: Sequence[ScoredItem | str]) -> None:
        self._customers.add(customer_id)
        self._picks[customer_id] = self._scored(items, Reason.PERSONALIZED)

    def set_bundle(self, item_id: str, items: Sequence[BundleItem | str]) -> None:
        self._know_item(item_id)
        self._bundles[item_id] = tuple(
            item if isinstance(item, BundleItem) else self._bundle_item(item, rank, item_id)
            for rank, item in enumerate(rules.as_tuple(items, "items"))
        )

    def set_similar_items(self, item_id: str, items: Sequence[ScoredItem | str]) -> None:
        self._know_item(item_id)
        self._similar_items[item_id] = self._scored(items, Reason.SIMILAR)

    def set_similar_customers(
        self, customer_id: str, customers: Sequence[ScoredCustomer | str]
    ) -> None:
        self._customers.add(customer_id)
        self._similar_customers[customer_id] = rules.scored_customers(customers)

    def set_lookalike(self, customers: Sequence[ScoredCustomer | str]) -> None:
        """The audience `lookalike` draws from (seeds are removed from it per call)."""
        self._lookalike = rules.scored_customers(customers)

    def set_model_info(self, info: ModelInfo) -> None:
        self._model_info = info

    def fail(self, method: str, error: BasketryClientError | None) -> None:
        """Makes every later call of `method` raise `error` (None clears it)."""
        if not hasattr(self, method) or method.startswith("_"):
            raise ValueError(f"FakeBasketryClient has no method {method!r}")
        if error is None:
            self._failures.pop(method, None)
        else:
            self._failures[method] = error

    @property
    def recorded_orders(self) -> tuple[Order, ...]:
        return tuple(self._orders.values())

    def _know_item(self, item_id: str) -> None:
        self._catalog.setdefault(item_id, CatalogItem())

    def _scored(self, items: Sequence[ScoredItem | str], reason: Reason) -> tuple[ScoredItem, ...]:
        scored = []
        for rank, item in enumerate(rules.as_tuple(items, "items")):
            if isinstance(item, str):
                item = ScoredItem(item, rules.rank_score(rank), reason)
            self._know_item(item.item_id)
            scored.append(replace(item, name=item.name or self._catalog[item.item_id].name))
        return tuple(scored)

    def _bundle_item(self, item_id: str, rank: int, because: str | None) -> BundleItem:
        self._know_item(item_id)
        return BundleItem(
            item_id=item_id,
            score=rules.rank_score(rank),
            confidence=0.0,
            lift=0.0,
            support=0.0,
            co_purchase_count=0,
            reason=Reason.POPULAR if because is None else Reason.BOUGHT_TOGETHER,
            name=self._catalog[item_id].name,
            because_item_ids=() if because is None else (because,),
        )
