"""Picks already sent under a campaign, so a customer's next mail does not repeat them.

RecommendBatch with a campaign excludes, per customer, the items sent to that customer under
that campaign within the rotation window (basketry.server.rotation), and remembers the
picks it streams. The memory of what was sent lives behind `SentPicksStore`, in this process
(InMemorySentPicks) or shared by replicas (RedisSentPicks), like the recorded orders.

Items are kept by id, not by model index: a snapshot swap renumbers items, and an item sent
last week must stay excluded under the new snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

SECONDS_PER_DAY = 86_400


class SentPicksUnavailable(Exception):
    """A shared store could not answer (down, slow, refused). Never reported to a client:
    the batch answers without rotation for the chunk concerned."""


class SentPicksStore(Protocol):
    """Where sent picks live. `window_seconds` is how long an item stays excluded once sent.
    Implementations are safe to call from many threads; a shared store raises
    SentPicksUnavailable from any method when it cannot answer."""

    window_seconds: int

    def sent(self, campaign: str, customer_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Item ids sent to each customer under `campaign` within the window; customers with
        none are left out. One round trip for all of `customer_ids`."""
        ...

    def remember(self, campaign: str, picks: Mapping[str, Sequence[str]]) -> None:
        """Record customer id -> item ids as sent now under `campaign`."""
        ...
