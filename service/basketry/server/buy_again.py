"""Buy-again scores: how likely a customer's next order holds an item they bought before.

    score(c, i) = share(c, i) * p_i ** beta * due(c, i)

    share(c, i) = recency-weighted share of c's orders holding i (history_recent_share,
                  learned in training: the last order weighs 1, each older one
                  `buy_again.basket_decay` times less, as TIFU-KNN's personal vector does).
                  On its own, c's estimate of P(i in the next order).
    p_i         = the item's repeat probability: P(a buyer buys it again in a later order),
                  smoothed toward its category (item_repeat_probability). It corrects a
                  short history: a customer with 3 orders holding a seasonal item once
                  has the same share as one holding a staple once, the items' buyers tell
                  them apart. beta = `buy_again.repeat_exponent` (0 ignores it).
    due(c, i)   = (1 - w) + w * min(1, days since c last bought i / cycle_i)
                  cycle_i = the item's median repurchase cycle in days; due = 1 when it is
                  unknown. Right after a purchase the score is held back by w
                  (`buy_again.due_weight`) and recovers linearly until the cycle has passed:
                  a consumable comes back when it is due.

Once-only items (item_once_only) are not scored here: recommend removes them from the
candidates of every strategy for a customer who bought them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from basketry.server.model import ServingModel

SECONDS_PER_DAY = 86_400.0


def buy_again_scores(
    model: ServingModel,
    items: npt.NDArray[np.int64],
    share: npt.NDArray[np.float32],
    last_ts: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """The score of each history cell (a customer-item pair, given as aligned arrays of
    its item, recency share and last purchase time), as defined above."""
    repeat = np.power(
        model.item_repeat_probability[items].astype(np.float64), model.blend.repeat_exponent
    )
    scores = share.astype(np.float64) * repeat * due(model, items, last_ts)
    return scores.astype(np.float32)


def due(
    model: ServingModel, items: npt.NDArray[np.int64], last_ts: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """due(c, i) of each history cell: from 1 - w right after a purchase up to 1."""
    cycle = model.item_repeat_cycle_days[items].astype(np.float64)
    days = np.maximum(model.reference_ts - last_ts, 0) / SECONDS_PER_DAY
    ratio = np.ones_like(days)
    known = np.isfinite(cycle) & (cycle > 0)
    ratio[known] = np.minimum(1.0, days[known] / cycle[known])
    weight = model.blend.due_weight
    return (1.0 - weight) + weight * ratio
