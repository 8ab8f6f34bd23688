"""The in-process AnswerCache: a bounded LRU of answers, each living for a TTL.

Limits: at most `max_entries` answers (the least recently used go first); generations are
kept for at most `max_entries` customers too. Forgetting a customer's generation also drops
their answers, so an answer can only come back stale if its computation outlived that many
other customers' orders. Not shared between replicas; lost on restart.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from basketry.server.answer_cache import AnswerCache, AnswerKey, Lookup


@dataclass(frozen=True)
class _Entry:
    generation: int
    expires_at: float
    answer: bytes


class InMemoryAnswerCache(AnswerCache):
    def __init__(
        self, ttl: float, max_entries: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[AnswerKey, _Entry] = OrderedDict()
        self._keys_of: dict[str, set[AnswerKey]] = {}  # customer -> their entries' keys
        # Customers whose orders were recorded -> generation; absent means 0. Values come
        # from one counter, so a customer forgotten and bumped again never reuses a value.
        self._generations: OrderedDict[str, int] = OrderedDict()
        self._counter = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def lookup(self, key: AnswerKey) -> Lookup:
        with self._lock:
            generation = self._generations.get(key.customer_id, 0)
            entry = self._entries.get(key)
            if entry is None:
                return Lookup(None, generation)
            if entry.generation != generation or entry.expires_at <= self._clock():
                self._drop(key)
                return Lookup(None, generation)
            self._entries.move_to_end(key)
            return Lookup(entry.answer, generation)

    def store(self, key: AnswerKey, generation: int, answer: bytes) -> None:
        with self._lock:
            if generation != self._generations.get(key.customer_id, 0):
                return  # computed before an order of theirs was recorded: already stale
            self._entries[key] = _Entry(generation, self._clock() + self.ttl, answer)
            self._entries.move_to_end(key)
            self._keys_of.setdefault(key.customer_id, set()).add(key)
            while len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))

    def invalidate(self, customer_ids: Iterable[str]) -> None:
        with self._lock:
            for customer_id in customer_ids:
                self._counter += 1
                self._generations[customer_id] = self._counter
                self._generations.move_to_end(customer_id)
                self._drop_customer(customer_id)
            while len(self._generations) > self.max_entries:
                forgotten, _generation = self._generations.popitem(last=False)
                self._drop_customer(forgotten)

    def _drop_customer(self, customer_id: str) -> None:
        for key in list(self._keys_of.get(customer_id, ())):
            self._drop(key)

    def _drop(self, key: AnswerKey) -> None:
        del self._entries[key]
        keys = self._keys_of[key.customer_id]
        keys.discard(key)
        if not keys:
            del self._keys_of[key.customer_id]
