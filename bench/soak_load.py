"""One load-generator process of the soak test (bench/soak.py starts several).

`python bench/soak_load.py CONFIG.json` reads its task, waits for the common start time,
sends requests through the project's client (basketry.client: per-attempt deadline, retries
of UNAVAILABLE with backoff) and writes its tally to the result file the config names.

Several processes rather than threads of one: a process's channels to one target share one
connection (the client offers no channel options to change that), and the server's workers
share their port with SO_REUSEPORT, which spreads connections, not calls; with a connection
per process, the kernel spreads the generators over the workers.

Modes:
- closed: `threads` callers send requests back to back (capacity measurement), the open
  mix without RecordOrders (those orders would sit outside the bookkeeping of accepted ones);
- open: requests arrive at `rate` per second (Poisson, seeded) whatever the answers take, on
  a pool of `threads`; the mix is MIX. RecordOrders answered UNAVAILABLE after the client's
  retries accepted nothing (the server's contract): such orders are re-sent every second
  while the load runs, then until `flush_seconds` after it, and count as failed only if
  never accepted.
"""

from __future__ import annotations

import functools
import json
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from soak_orders import Orders

from basketry.client import BasketryClient, BasketryClientError, Unavailable

# Share of each request kind in the open-loop mix (weights, any scale).
MIX = {
    "Recommend": 70,
    "Bundle": 8,
    "SimilarItems": 7,
    "RecordOrders": 6,
    "RecommendBatch": 3,
    "Lookalike": 3,
    "invalid": 3,  # deliberately bad requests; the answer must be INVALID_ARGUMENT
}
# The capacity is measured on the mix the load will send (a batch of 20 or a look-alike costs
# many Recommends: half of a Recommend-only capacity would be no "half" at all).
CAPACITY_MIX = {kind: weight for kind, weight in MIX.items() if kind != "RecordOrders"}
BATCH_CUSTOMERS = 20
MAX_FAILURE_NOTES = 20


def allowed(kind: str, outcome: str) -> bool:
    """Outcomes that are not failures. RecordOrders answered UNAVAILABLE accepted nothing and
    is re-sent (a failure only if never accepted, counted apart); deliberately invalid
    requests must get INVALID_ARGUMENT."""
    if kind == "invalid":
        return outcome == "INVALID_ARGUMENT"
    return outcome == "OK" or (kind == "RecordOrders" and outcome == "UNAVAILABLE")


class Tally:
    """Outcomes and latencies of the calls, shared by the sending threads."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lock = threading.Lock()
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.open_latency_ms: list[float] = []  # arrival (scheduled) to answer, OK calls
        self.lag_ms: list[float] = []  # arrival to send: the generator's own delay
        self.late_from_arrival = 0  # OK calls answered over the deadline after their arrival
        self.failures: list[str] = []
        self.start = time.monotonic()  # of the open loop: per-second figures count from it
        # Second of arrival -> [calls, failed calls, slowest call in ms].
        self.per_second: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])

    def call(self, kind: str, send: Callable[[], str], scheduled: float | None = None) -> str:
        """Run `send` (returns "OK" or a failure outcome); tally and return its outcome."""
        started = time.monotonic()
        try:
            outcome = send()
        except BasketryClientError as exc:
            outcome = exc.code.name if exc.code is not None else "CLIENT_ERROR"
            note = f"{kind}: {exc}"
        except Exception as exc:  # a bug of this generator or the client: counted as failed
            outcome = f"EXCEPTION_{type(exc).__name__}"
            note = f"{kind}: {exc!r}"
        else:
            note = f"{kind}: {outcome}"
        finished = time.monotonic()
        seconds = finished - started
        # The deadline is per call (retries included), as the client's callers see it; the
        # time a request waited for a free thread of this generator is reported apart.
        if outcome == "OK" and seconds > self.deadline:
            outcome = "OVER_DEADLINE"
            note = f"{kind}: answered after {seconds:.2f}s"
        failed = not allowed(kind, outcome)
        with self.lock:
            self.outcomes[kind][outcome] += 1
            if scheduled is not None:
                self.lag_ms.append((started - scheduled) * 1000)
                second = self.per_second[int(scheduled - self.start)]
                second[0] += 1
                second[1] += failed
                second[2] = max(second[2], seconds * 1000)
                note = f"t={scheduled - self.start:.1f}s {note}"
            if outcome == "OK":
                self.latency_ms[kind].append(seconds * 1000)
                if scheduled is not None:
                    self.open_latency_ms.append((finished - scheduled) * 1000)
                    self.late_from_arrival += finished - scheduled > self.deadline
            elif failed and len(self.failures) < MAX_FAILURE_NOTES:
                self.failures.append(note)
        return outcome


class Requests:
    """The request kinds of the mix, each a function returning "OK" or a failure outcome."""

    def __init__(
        self, client: BasketryClient, config: dict[str, Any], orders: Orders, seed: int
    ) -> None:
        self.client = client
        self.customers: list[str] = config["customers"]
        self.items: list[str] = config["items"]
        self.deadline: float = config["deadline"]
        self.orders = orders
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.invalid_sent = 0
        self.kinds: dict[str, Callable[[random.Random], str]] = {
            "Recommend": self.recommend,
            "Bundle": self.bundle,
            "SimilarItems": self.similar_items,
            "Lookalike": self.lookalike,
            "RecommendBatch": self.recommend_batch,
            "RecordOrders": self.record_orders,
            "invalid": self.invalid,
        }

    def choose(self, kinds: list[str], weights: list[int]) -> str:
        with self.rng_lock:
            return self.rng.choices(kinds, weights)[0]

    def send(self, kind: str) -> str:
        with self.rng_lock:  # each call draws its arguments under the lock: reproducible
            seed = self.rng.getrandbits(32)
        return self.kinds[kind](random.Random(seed))

    def recommend(self, rng: random.Random) -> str:
        answer = self.client.recommend(rng.choice(self.customers), limit=10)
        return "OK" if answer.items else "EMPTY_ANSWER"

    def bundle(self, rng: random.Random) -> str:
        self.client.bundle(rng.sample(self.items, rng.randint(1, 3)), limit=10)
        return "OK"

    def similar_items(self, rng: random.Random) -> str:
        self.client.similar_items(rng.choice(self.items), limit=10)
        return "OK"

    def lookalike(self, rng: random.Random) -> str:
        self.client.lookalike(seed_customer_ids=rng.sample(self.customers, 5), limit=50)
        return "OK"

    def recommend_batch(self, rng: random.Random) -> str:
        wanted = rng.sample(self.customers, BATCH_CUSTOMERS)
        answers = list(
            self.client.recommend_batch(wanted, limit=10, campaign="soak", timeout=self.deadline)
        )
        return "OK" if [a.customer_id for a in answers] == wanted else "WRONG_ANSWERS"

    def record_orders(self, rng: random.Random) -> str:
        order = self.orders.new_order(rng, self.customers, self.items)
        try:
            self.client.record_orders([order])
        except Unavailable:
            self.orders.done([order], "UNAVAILABLE", resend=False)
            raise
        self.orders.done([order], "OK", resend=False)
        return "OK"

    def invalid(self, rng: random.Random) -> str:
        """One of four requests the server must refuse with INVALID_ARGUMENT."""
        with self.rng_lock:
            which = self.invalid_sent % 4
            self.invalid_sent += 1
        if which == 0:
            self.client.recommend("", limit=10)  # no customer id
        elif which == 1:
            self.client.recommend(rng.choice(self.customers), limit=100_000)  # limit too high
        elif which == 2:
            self.client.bundle([], limit=10)  # empty basket
        else:
            self.client.lookalike(limit=10)  # no seed at all
        return "ACCEPTED_INVALID_REQUEST"


def run_closed(config: dict[str, Any], client: BasketryClient, tally: Tally) -> None:
    requests = Requests(client, config, Orders(config["order_prefix"]), config["seed"])
    end = wait_for_start(config) + config["seconds"]

    kinds, weights = list(CAPACITY_MIX), list(CAPACITY_MIX.values())

    def caller() -> None:
        while time.monotonic() < end:
            kind = requests.choose(kinds, weights)
            tally.call(kind, functools.partial(requests.send, kind))

    threads = [threading.Thread(target=caller) for _ in range(config["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_open(config: dict[str, Any], client: BasketryClient, tally: Tally, orders: Orders) -> None:
    requests = Requests(client, config, orders, config["seed"])
    kinds, weights = list(MIX), list(MIX.values())
    arrivals = random.Random(config["seed"] + 1)
    start = tally.start = wait_for_start(config)
    end = start + config["seconds"]
    stop_resending = threading.Event()
    resender = threading.Thread(target=resend_while, args=(orders, client, stop_resending))
    resender.start()
    with ThreadPoolExecutor(max_workers=config["threads"]) as pool:
        arrival = start
        while True:
            arrival += arrivals.expovariate(config["rate"])
            if arrival >= end:
                break
            time.sleep(max(0.0, arrival - time.monotonic()))
            kind = requests.choose(kinds, weights)
            pool.submit(tally.call, kind, functools.partial(requests.send, kind), arrival)
    stop_resending.set()
    resender.join()
    flush_end = time.monotonic() + config["flush_seconds"]
    while orders.deferred and time.monotonic() < flush_end:
        orders.resend(client)
        if orders.deferred:
            time.sleep(1.0)


def resend_while(orders: Orders, client: BasketryClient, stop: threading.Event) -> None:
    """Re-send deferred orders every second while the load runs."""
    while not stop.wait(1.0):
        orders.resend(client)


def wait_for_start(config: dict[str, Any]) -> float:
    """Sleep until the common start (wall clock, shared by the processes); its monotonic time."""
    delay = config["start_at"] - time.time()
    time.sleep(max(0.0, delay))
    return time.monotonic()


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
    }


def main() -> int:
    config: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
    config |= json.loads(Path(config["ids_file"]).read_text())
    tally = Tally(config["deadline"])
    orders = Orders(config["order_prefix"])
    with BasketryClient(config["target"], timeout=config["deadline"]) as client:
        if config["mode"] == "closed":
            run_closed(config, client, tally)
        else:
            run_open(config, client, tally, orders)
    never = [(o.order_id, o.customer_id) for o in [*orders.deferred, *orders.refused]]
    result = {
        "mode": config["mode"],
        "seconds": config["seconds"],
        "outcomes": {kind: dict(counts) for kind, counts in tally.outcomes.items()},
        "latency_ms": tally.latency_ms,
        "open_latency_ms": tally.open_latency_ms,
        "lag_ms": summary(tally.lag_ms),
        "late_from_arrival": tally.late_from_arrival,
        "failures": tally.failures,
        "per_second": {str(second): figures for second, figures in tally.per_second.items()},
        "orders": {
            "accepted": orders.accepted,
            "deferred": orders.deferred_total,
            "accepted_on_resend": orders.accepted_on_resend,
            "never_accepted": never,
            "resend_calls": dict(orders.resend_calls),
        },
    }
    Path(config["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
