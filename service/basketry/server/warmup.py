"""Exercise every serving path once on a freshly built model, before it takes traffic.

The first call of each path pays for lazy work (numpy dispatch, BLAS buffers, code
paths never run before); doing it here keeps that off a customer's request, and a
model that cannot answer fails here, while the old one still serves.
"""

from __future__ import annotations

import numpy as np

from basketry.server.bundle import bundle
from basketry.server.domain import BundleQuery, RecommendQuery, Strategy
from basketry.server.filters import ItemFilter, allowed_items
from basketry.server.memory_store import InMemoryOrderStore
from basketry.server.model import ServingModel
from basketry.server.orders import RecordedLine, RecordedOrder
from basketry.server.recommend import recommend
from basketry.server.similarity import lookalike, similar_customers, similar_items


def warm_up(model: ServingModel) -> None:
    allowed = allowed_items(model, ItemFilter())
    warm = np.flatnonzero(model.customer_warm)
    customer_id = model.customer_ids[int(warm[0])] if warm.size else ""
    some_items = model.item_ids[:2]
    for strategy in Strategy:
        query = RecommendQuery(
            customer_id, 10, context_item_ids=some_items, strategy=strategy, explain=True
        )
        recommend(model, query, allowed)
    if some_items:
        # A customer with a recorded order: the overlay and fold-in path.
        orders = InMemoryOrderStore(max_orders=1, max_order_ids=1)
        lines = tuple(RecordedLine(item_id, 1.0) for item_id in some_items)
        orders.record([RecordedOrder("warm-up", "warm-up", model.reference_ts + 1, lines)])
        recommend(model, RecommendQuery("warm-up", 10, explain=True), allowed, orders)
        bundle(model, BundleQuery(some_items, 10), allowed)
        similar_items(model, some_items[0], 10, allowed)
    if warm.size:
        similar_customers(model, customer_id, 10)
        lookalike(model, (customer_id,), (), 10)
