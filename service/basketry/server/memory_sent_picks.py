"""The in-process SentPicksStore: the default without a shared store, bounded in memory.

Limits: at most `max_customers` (campaign, customer) pairs are remembered
(ServerSettings.max_rotation_customers, default 100,000; measured with tracemalloc, a pair
holding 10 items with 14-character customer ids costs ~1.1 KB, so ~110 MB at the cap for
one 10-pick mail each, more when several mails fall in the window). Beyond it the pair
written longest ago is forgotten, so that customer may be sent the same items again within
the window; every eviction is counted (`on_evict`) and logged. Items older than the window
are dropped when their pair is read or written. State is lost on restart and not shared by
replicas: with several replicas, configure Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from basketry.server.sent_picks import SentPicksStore

log = logging.getLogger(__name__)

DEFAULT_MAX_CUSTOMERS = 100_000


class InMemorySentPicks(SentPicksStore):
    def __init__(
        self,
        window_seconds: int,
        *,
        max_customers: int = DEFAULT_MAX_CUSTOMERS,
        clock: Callable[[], float] = time.time,
        on_evict: Callable[[int], None] | None = None,
    ) -> None:
        if window_seconds < 1 or max_customers < 1:
            raise ValueError(
                f"need window_seconds >= 1 and max_customers >= 1, "
                f"got {window_seconds} and {max_customers}"
            )
        self.window_seconds = window_seconds
        self.max_customers = max_customers
        self._clock = clock
        self._on_evict = on_evict
        self._lock = threading.Lock()
        # (campaign, customer) -> item id -> sent at; first entries were written longest ago.
        self._sent: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()

    def sent(self, campaign: str, customer_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        since = self._clock() - self.window_seconds
        found: dict[str, frozenset[str]] = {}
        with self._lock:
            for customer_id in customer_ids:
                items = self._sent.get((campaign, customer_id))
                if items is None:
                    continue
                recent = frozenset(item for item, at in items.items() if at > since)
                if recent:
                    found[customer_id] = recent
                else:
                    del self._sent[(campaign, customer_id)]
        return found

    def remember(self, campaign: str, picks: Mapping[str, Sequence[str]]) -> None:
        now = self._clock()
        since = now - self.window_seconds
        evicted = 0
        with self._lock:
            for customer_id, item_ids in picks.items():
                if not item_ids:
                    continue
                key = (campaign, customer_id)
                held = self._sent.pop(key, {})
                items = {item: at for item, at in held.items() if at > since}
                items.update(dict.fromkeys(item_ids, now))
                self._sent[key] = items  # re-inserted: now the most recently written
                if len(self._sent) > self.max_customers:
                    self._sent.popitem(last=False)
                    evicted += 1
        if evicted:
            log.warning(
                "sent-picks memory is full (%d campaign customers): forgot the %d written "
                "longest ago; they may get repeated picks (raise --max-rotation-customers or "
                "configure Redis)",
                self.max_customers,
                evicted,
            )
            if self._on_evict is not None:
                self._on_evict(evicted)

    def held(self) -> int:
        """(campaign, customer) pairs remembered now."""
        return len(self._sent)
