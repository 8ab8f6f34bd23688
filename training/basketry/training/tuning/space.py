"""What `basketry tune` searches: training parameters (each a refit) and serving weights.

Training parameters change the snapshot, so every combination tried costs a fit; they are
sampled at random (seeded) from their grid. Serving weights are read by the server from
the manifest (basketry.server.model.PARAMETERS), so one fitted model is re-scored under
other weights by rebuilding its blend rule, with no refit: they get a sweep per fit.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

from basketry.server.model import PARAMETERS as SERVING_PARAMETERS
from basketry.training.tuning.parameters import BY_NAME, Value


@dataclass(frozen=True)
class SearchSpace:
    """Candidate values per parameter (manifest names); order is the sweep order."""

    training: Mapping[str, Sequence[Value]]
    serving: Mapping[str, Sequence[Value]]

    def __post_init__(self) -> None:
        for name, options in {**self.training, **self.serving}.items():
            if name not in BY_NAME:
                raise ValueError(f"{name} is not a settable training parameter")
            if not options:
                raise ValueError(f"{name} has no candidate values")
            for option in options:
                BY_NAME[name].check(option)
        for name in self.training:
            if name in SERVING_PARAMETERS:
                raise ValueError(f"{name} is read by the server: search it as a serving weight")
        for name in self.serving:
            if name not in SERVING_PARAMETERS:
                raise ValueError(f"{name} is not read by the server: it needs a refit")


DEFAULT_SPACE = SearchSpace(
    training={
        "als.factors": (32, 64, 128),
        "als.regularization": (0.05, 0.5, 5.0),
        "als.alpha": (1.0, 3.0, 10.0),
        "buy_again.basket_decay": (0.6, 0.75, 0.9, 1.0),
        "repurchase.once_only_below": (0.0, 0.07, 0.14, 0.25),
    },
    serving={
        "blend.buy_again_weight": (0.6, 0.75, 0.9, 1.0),
        "buy_again.due_weight": (0.0, 0.5, 1.0),
        "buy_again.repeat_exponent": (0.0, 0.5, 1.0, 2.0),
        "blend.copurchase_weight": (0.25, 0.5, 0.75),
    },
)


def training_candidates(
    space: SearchSpace, start: Mapping[str, Value], trials: int, seed: int
) -> list[dict[str, Value]]:
    """The training values to fit, `start`'s first, then distinct random grid points.

    At most `trials` in all (fewer when the grid is smaller); the same seed gives the same
    list. `start` holds every searched name (e.g. the defaults, which may lie off the grid).
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    names = list(space.training)
    first = tuple(start[name] for name in names)
    others = [combo for combo in product(*space.training.values()) if combo != first]
    picked = random.Random(seed).sample(others, min(trials - 1, len(others)))
    return [dict(zip(names, combo, strict=True)) for combo in [first, *picked]]
