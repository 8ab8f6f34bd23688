"""Synthetic order history with the structure of real retail data, at any size.

Benchmarks need order histories of 10^5..10^7 lines that behave like a shop's, not uniform
noise: a few items sell most (power-law popularity), customers keep to a few categories,
some items are bought again on a cycle (repeat buyers), a few items are planted as bundles
(bought together far more than chance), and activity per customer is heavy-tailed.
Everything is vectorised over numpy arrays so 10M lines take about a minute, and a seed
makes the output reproducible. `GeneratedHistory.truth` holds what was planted so tests and
benchmarks can check that training finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from basketry.training.progress import Stages

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class GeneratorSpec:
    order_lines: int = 1_000_000  # target; the output holds within 1% fewer, never more
    customers: int = 100_000
    items: int = 10_000
    categories: int = 200
    days: int = 365
    basket_size: float = 4.0  # mean distinct items per order
    repeat_item_share: float = 0.3  # items that are bought again on a cycle
    bundles: int = 200  # planted anchor → partner pairs
    bundle_probability: float = 0.5  # P(partner joins a basket holding the anchor)
    explore_share: float = 0.25  # lines drawn from global popularity, not a favourite category
    seed: int = 42
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        problems = []
        for name in ("order_lines", "customers", "items", "categories", "days"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.categories > self.items:
            problems.append("categories must not exceed items")
        if self.basket_size < 1:
            problems.append("basket_size must be at least 1")
        if self.order_lines < self.customers * self.basket_size:
            problems.append(
                f"{self.order_lines} order lines cannot give {self.customers} customers an "
                f"order of {self.basket_size} items each: ask for more lines or fewer customers"
            )
        for name in ("repeat_item_share", "bundle_probability", "explore_share"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be within 0..1")
        if not 0 <= 2 * self.bundles <= self.items:
            problems.append("bundles must be at most half the items")
        if problems:
            raise ValueError("invalid generator settings: " + "; ".join(problems))


@dataclass(frozen=True)
class PlantedTruth:
    bundle_anchors: np.ndarray  # item indices
    bundle_partners: np.ndarray  # item indices, aligned with the anchors
    repeat_items: np.ndarray  # item indices bought again on a cycle
    cycle_days: np.ndarray  # per item; 0 for items without a cycle


@dataclass(frozen=True)
class GeneratedHistory:
    orders: pl.DataFrame  # order_id, customer_id, item_id, quantity, timestamp, price, item_name
    catalog: pl.DataFrame  # item_id, name, category, price
    truth: PlantedTruth


def item_id(index: int) -> str:
    """The id string of an item index, as written to the files."""
    return f"I{index:07d}"


def generate(spec: GeneratorSpec, stages: Stages) -> GeneratedHistory:
    rng = np.random.default_rng(spec.seed)
    with stages.stage("catalogue"):
        items = _Catalogue.draw(spec, rng)
    with stages.stage("customers and orders"):
        # Headroom: random whole orders are dropped afterwards to land just under the target.
        orders = _Orders.draw(spec, rng, lines_wanted=spec.order_lines * 1.15)
    with stages.stage("basket lines"):
        order_of, item_of = _browse_lines(spec, rng, items, orders)
        staple_order, staple_item = _staple_lines(spec, rng, items, orders)
        order_of = np.concatenate([order_of, staple_order])
        item_of = np.concatenate([item_of, staple_item])
        order_of, item_of = _add_bundle_partners(spec, rng, items, order_of, item_of)
        order_of, item_of = _distinct_lines(order_of, item_of, spec.items)
        order_of, item_of = _trim_to_target(rng, orders, order_of, item_of, spec.order_lines)
    with stages.stage("tables"):
        history = GeneratedHistory(
            orders=_orders_table(spec, rng, items, orders, order_of, item_of),
            catalog=items.table(),
            truth=PlantedTruth(
                bundle_anchors=items.bundle_anchors,
                bundle_partners=items.bundle_partners,
                repeat_items=np.flatnonzero(items.cycle_days > 0),
                cycle_days=items.cycle_days,
            ),
        )
    stages.note(
        "generated %d order lines, %d orders, %d customers, %d items",
        history.orders.height,
        history.orders["order_id"].n_unique(),
        history.orders["customer_id"].n_unique(),
        history.orders["item_id"].n_unique(),
    )
    return history


@dataclass(frozen=True)
class _Catalogue:
    category: np.ndarray  # per item
    popularity: np.ndarray  # per item, sums to 1
    cycle_days: np.ndarray  # per item, 0 = not bought on a cycle
    price: np.ndarray
    # Items sorted by (category, -popularity): category c owns sorted positions
    # [category_start[c], category_start[c + 1]); `within_cdf` is the cumulative popularity
    # inside each category, offset by the category number so one searchsorted serves all.
    sorted_items: np.ndarray
    category_start: np.ndarray
    within_cdf: np.ndarray
    category_weight: np.ndarray
    bundle_anchors: np.ndarray
    bundle_partners: np.ndarray

    @classmethod
    def draw(cls, spec: GeneratorSpec, rng: np.random.Generator) -> _Catalogue:
        n = spec.items
        # Zipf-like popularity (exponent ~1, softened head), assigned to items at random.
        rank = rng.permutation(n)
        popularity = 1.0 / (rank + 10.0) ** 1.05
        popularity /= popularity.sum()
        category_weight = 1.0 / (np.arange(spec.categories) + 3.0) ** 0.8
        category_weight /= category_weight.sum()
        # Every category gets at least one item; the rest follow the category sizes.
        category = np.concatenate(
            [
                np.arange(spec.categories),
                rng.choice(spec.categories, size=n - spec.categories, p=category_weight),
            ]
        )
        rng.shuffle(category)
        # Repeat behaviour clusters by category (groceries vs furniture): a per-category rate.
        is_repeat = rng.random(n) < _category_repeat_rates(spec, rng)[category]
        cycle_days = np.where(
            is_repeat, np.clip(rng.lognormal(np.log(30.0), 0.6, n), 3.0, 180.0), 0.0
        )
        price = np.round(rng.lognormal(1.2, 0.9, n), 2) + 0.05

        sorted_items = np.lexsort((-popularity, category))
        sorted_category = category[sorted_items]
        category_start = np.searchsorted(sorted_category, np.arange(spec.categories + 1))
        sorted_pop = popularity[sorted_items]
        cumulative = np.cumsum(sorted_pop)
        before = np.concatenate([[0.0], cumulative])[category_start[:-1]]
        totals = cumulative[category_start[1:] - 1] - before
        within_cdf = (
            sorted_category + (cumulative - before[sorted_category]) / totals[sorted_category]
        )
        anchors, partners = _plant_bundles(spec, rng, popularity)
        return cls(
            category=category,
            popularity=popularity,
            cycle_days=cycle_days,
            price=price,
            sorted_items=sorted_items,
            category_start=category_start,
            within_cdf=within_cdf,
            category_weight=category_weight,
            bundle_anchors=anchors,
            bundle_partners=partners,
        )

    def in_category(self, category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of `category`, by popularity within that category."""
        keys = category + rng.random(category.size)
        position = np.searchsorted(self.within_cdf, keys, side="left")
        # Guard the right edge of each category against rounding in the cumulative sums.
        position = np.minimum(position, self.category_start[category + 1] - 1)
        return np.asarray(self.sorted_items[position], dtype=np.int64)

    def table(self) -> pl.DataFrame:
        ids = [item_id(i) for i in range(self.category.size)]
        categories = [f"category {c:04d}" for c in self.category]
        return pl.DataFrame(
            {
                "item_id": ids,
                "name": [f"item {i[1:]} ({c})" for i, c in zip(ids, categories, strict=True)],
                "category": categories,
                "price": self.price,
            }
        )


def _category_repeat_rates(spec: GeneratorSpec, rng: np.random.Generator) -> np.ndarray:
    """Beta(1, b) rates with mean repeat_item_share, one per category."""
    share = spec.repeat_item_share
    if share in (0.0, 1.0):
        return np.full(spec.categories, share)
    return np.asarray(rng.beta(1.0, (1.0 - share) / share, spec.categories), dtype=np.float64)


def _plant_bundles(
    spec: GeneratorSpec, rng: np.random.Generator, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor → partner pairs among the items outside the very head (head items co-occur
    with everything anyway; a planted pair should stand out from chance)."""
    if spec.bundles == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    by_popularity = np.argsort(-popularity)
    pool = by_popularity[min(spec.items // 100, spec.items - 2 * spec.bundles) :]
    pool = pool[: max(2 * spec.bundles, pool.size // 2)]
    chosen = rng.choice(pool, size=2 * spec.bundles, replace=False)
    return chosen[: spec.bundles], chosen[spec.bundles :]


@dataclass(frozen=True)
class _Orders:
    customer: np.ndarray  # per order, sorted by (customer, time)
    time_days: np.ndarray  # per order, days since spec.start
    size: np.ndarray  # browse lines per order (staples and bundle partners come on top)
    rank: np.ndarray  # per order, its position among its customer's orders (0-based)

    @classmethod
    def draw(cls, spec: GeneratorSpec, rng: np.random.Generator, lines_wanted: float) -> _Orders:
        # Part of each order's lines are staples and bundle partners (about a fifth); the
        # browse lines make up the rest.
        browse_size = max(1.0, spec.basket_size * 0.8)
        total_orders = lines_wanted / spec.basket_size
        extra_per_customer = max(0.0, total_orders / spec.customers - 1.0)
        activity = rng.lognormal(0.0, 1.0, spec.customers)
        activity /= activity.mean()
        per_customer = 1 + rng.poisson(extra_per_customer * activity)
        customer = np.repeat(np.arange(spec.customers), per_customer)
        # A customer is active from a random start day to the end of the period.
        first_day = rng.random(spec.customers) * spec.days * 0.8
        span = spec.days - first_day[customer]
        time_days = first_day[customer] + rng.random(customer.size) * span
        order = np.lexsort((time_days, customer))
        customer, time_days = customer[order], time_days[order]
        starts = np.concatenate([[0], np.cumsum(per_customer)[:-1]])
        rank = np.arange(customer.size) - np.repeat(starts, per_customer)
        size = 1 + rng.poisson(browse_size - 1.0, customer.size)
        return cls(
            customer=customer,
            time_days=time_days,
            size=size,
            rank=rank,
        )


def _browse_lines(
    spec: GeneratorSpec, rng: np.random.Generator, items: _Catalogue, orders: _Orders
) -> tuple[np.ndarray, np.ndarray]:
    """Lines picked while browsing: mostly the customer's favourite categories, some from
    the whole shop by popularity."""
    favourites = rng.choice(spec.categories, size=(spec.customers, 3), p=items.category_weight)
    order_of = np.repeat(np.arange(orders.customer.size), orders.size)
    customer = orders.customer[order_of]
    which = rng.choice(3, size=order_of.size, p=[0.6, 0.3, 0.1])
    item_of = items.in_category(favourites[customer, which], rng)
    explore = rng.random(order_of.size) < spec.explore_share
    item_of[explore] = rng.choice(spec.items, size=int(explore.sum()), p=items.popularity)
    return order_of, item_of


def _staple_lines(
    spec: GeneratorSpec, rng: np.random.Generator, items: _Catalogue, orders: _Orders
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases: each customer has up to 3 staples (repeat items) and buys one again
    with a probability that grows with the days since they last bought it, relative to its
    cycle — so inter-purchase gaps cluster around the cycle, as they do in real data."""
    repeat_items = np.flatnonzero(items.cycle_days > 0)
    if repeat_items.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    weights = items.popularity[repeat_items] / items.popularity[repeat_items].sum()
    staples = repeat_items[rng.choice(repeat_items.size, size=(spec.customers, 3), p=weights)]
    cycle = items.cycle_days[staples]
    last_bought = np.full(staples.shape, -np.inf)
    order_lines: list[np.ndarray] = []
    item_lines: list[np.ndarray] = []
    # One pass per order rank, vectorised over every customer with that many orders; the
    # number of passes is the largest order count of one customer.
    for rank in range(int(orders.rank.max()) + 1):
        at_rank = np.flatnonzero(orders.rank == rank)
        customer = orders.customer[at_rank]
        now = orders.time_days[at_rank][:, None]
        since = now - last_bought[customer]
        due = np.where(np.isinf(since), 0.3, 1.0 - np.exp(-since / cycle[customer]))
        bought = rng.random(due.shape) < due
        rows, slots = np.nonzero(bought)
        last_bought[customer[rows], slots] = now[rows, 0]
        order_lines.append(at_rank[rows])
        item_lines.append(staples[customer[rows], slots])
    return np.concatenate(order_lines), np.concatenate(item_lines)


def _add_bundle_partners(
    spec: GeneratorSpec,
    rng: np.random.Generator,
    items: _Catalogue,
    order_of: np.ndarray,
    item_of: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    partner = np.full(spec.items, -1, dtype=np.int64)
    partner[items.bundle_anchors] = items.bundle_partners
    has_partner = partner[item_of] >= 0
    joins = has_partner & (rng.random(item_of.size) < spec.bundle_probability)
    return (
        np.concatenate([order_of, order_of[joins]]),
        np.concatenate([item_of, partner[item_of[joins]]]),
    )


def _distinct_lines(
    order_of: np.ndarray, item_of: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """One line per (order, item): a basket lists an item once (its quantity says how many)."""
    key = np.unique(order_of.astype(np.int64) * n_items + item_of)
    return key // n_items, key % n_items


def _trim_to_target(
    rng: np.random.Generator,
    orders: _Orders,
    order_of: np.ndarray,
    item_of: np.ndarray,
    target: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop random whole orders (purchases made elsewhere) until at most `target` lines;
    never a customer's first order, so every customer keeps at least one."""
    if order_of.size <= target:
        return order_of, item_of
    n_orders = orders.customer.size
    in_random_order = rng.permutation(np.flatnonzero(orders.rank > 0))
    dropped_lines = np.cumsum(np.bincount(order_of, minlength=n_orders)[in_random_order])
    n_dropped = int(np.searchsorted(dropped_lines, order_of.size - target)) + 1
    keep_order = np.ones(n_orders, dtype=bool)
    keep_order[in_random_order[:n_dropped]] = False
    keep = keep_order[order_of]
    return order_of[keep], item_of[keep]


def _orders_table(
    spec: GeneratorSpec,
    rng: np.random.Generator,
    items: _Catalogue,
    orders: _Orders,
    order_of: np.ndarray,
    item_of: np.ndarray,
) -> pl.DataFrame:
    seconds = int(spec.start.timestamp()) + np.floor(orders.time_days * SECONDS_PER_DAY)
    lines = pl.DataFrame(
        {
            "order": order_of.astype(np.int64),
            "customer": orders.customer[order_of].astype(np.int64),
            "item": item_of.astype(np.int64),
            "quantity": rng.geometric(0.6, order_of.size).astype(np.int64),
            "seconds": seconds[order_of].astype(np.int64),
            "price": items.price[item_of],
        }
    )
    item_number = pl.col("item").cast(pl.String).str.zfill(7)
    return lines.select(
        pl.format("O{}", pl.col("order")).alias("order_id"),
        pl.format("C{}", pl.col("customer")).alias("customer_id"),
        pl.format("I{}", item_number).alias("item_id"),
        pl.col("quantity"),
        pl.from_epoch(pl.col("seconds"), time_unit="s").alias("timestamp"),
        pl.col("price"),
        pl.format("item {}", item_number).alias("item_name"),
    )
