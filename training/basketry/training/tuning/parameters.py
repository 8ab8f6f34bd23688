"""The training parameters a flag, a params file or `basketry tune` can set, by manifest name.

One table (PARAMETERS) says, for each settable parameter: its flat manifest name (the key
TrainingConfig.parameters() writes), where it lives in TrainingConfig, its type and
allowed range, and the command-line flag that sets it. Everything else in the manifest's
parameters is derived (e.g. "confidence.weighting") or describes the input, not the model.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from basketry.training.als import AlsSettings
from basketry.training.columns import preset
from basketry.training.config import JsonScalar, RulesSettings, TrainingConfig

Value = int | float | None

DEFAULT_ALS = AlsSettings(factors=64, regularization=0.5, iterations=15, seed=42, threads=1)
DEFAULT_ALPHA = 3.0
MODEL_GROUP = "model"
REPEAT_GROUP = "repurchase and blend (read by the server)"


@dataclass(frozen=True)
class Range:
    """Allowed values: low..high, each end closed unless marked open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"


ANY = Range()
AT_LEAST_ONE = Range(1)
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
UNIT = Range(0, 1)
DECAY = Range(0, 1, low_open=True)


@dataclass(frozen=True)
class Parameter:
    """One settable parameter: manifest `name`, its place in TrainingConfig, and its flag.

    `path` is the attribute chain in TrainingConfig, e.g. ("als", "factors") or ("alpha",).
    `nullable` parameters accept JSON null in a params file (meaning "estimate it").
    """

    name: str
    path: tuple[str, ...]
    kind: type[int] | type[float]
    allowed: Range
    flag: str
    metavar: str
    help: str
    group: str = MODEL_GROUP
    nullable: bool = False

    @property
    def dest(self) -> str:
        """The argparse destination of the flag."""
        return self.flag.removeprefix("--").replace("-", "_")

    def check(self, value: object) -> Value:
        """`value` (from JSON) as this parameter's type; ValueError saying why not."""
        if value is None and self.nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        if self.kind is int and not float(value).is_integer():
            raise ValueError(f"{self.name} must be a whole number, got {value!r}")
        number = self.kind(value)
        if not self.allowed.contains(number):
            raise ValueError(f"{self.name} must be {self.allowed.describe()}, got {value!r}")
        return number

    def parse_flag(self, text: str) -> int | float:
        """argparse type for the flag: the text as this parameter's type, range checked."""
        try:
            number = self.kind(text)
        except ValueError as exc:
            expected = f"expected a {self.kind.__name__}, got {text!r}"
            raise argparse.ArgumentTypeError(expected) from exc
        if not self.allowed.contains(number):
            raise argparse.ArgumentTypeError(f"must be {self.allowed.describe()}, got {text}")
        return number

    def read(self, config: TrainingConfig) -> Value:
        owner: object = config
        for attribute in self.path:
            owner = getattr(owner, attribute)
        if owner is not None and not isinstance(owner, int | float):
            raise TypeError(f"{self.name} is not a number in the config: {owner!r}")
        return owner


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("als.factors", ("als", "factors"), int, AT_LEAST_ONE, "--factors", "N",
              "ALS latent factors"),
    Parameter("als.iterations", ("als", "iterations"), int, AT_LEAST_ONE, "--iterations", "N",
              "ALS iterations"),
    Parameter("als.seed", ("als", "seed"), int, ANY, "--seed", "N", "ALS random seed"),
    Parameter("als.regularization", ("als", "regularization"), float, NON_NEGATIVE,
              "--regularization", "X", "ALS L2 regularization"),
    Parameter("als.alpha", ("alpha",), float, POSITIVE, "--alpha", "X",
              "confidence scale: c = 1 + alpha*ln(1 + orders + 0.1*ln(1 + units))"),
    Parameter("rules.min_pair_count", ("rules", "min_pair_count"), int, AT_LEAST_ONE,
              "--min-pair-count", "N", "orders two items must share to be partners"),
    Parameter("rules.chance_discount", ("rules", "chance_discount"), float, NON_NEGATIVE,
              "--chance-discount", "C",
              "partners rank by (n_ab - C * E_ab) / n_a: confidence less C x its chance level"),
    Parameter("rules.top_k", ("rules", "top_k"), int, AT_LEAST_ONE, "--top-partners", "K",
              "partners kept per item, best first"),
    Parameter("rules.max_basket_size", ("rules", "max_basket_size"), int, AT_LEAST_ONE,
              "--max-basket-size", "N",
              "orders with more distinct items are left out of partner mining"),
    Parameter("rules.size_buckets", ("rules", "size_buckets"), int, AT_LEAST_ONE,
              "--size-buckets", "N", "order-size buckets for the expected co-purchase counts"),
    Parameter("repurchase.once_only_below", ("repurchase", "once_only_below"), float, UNIT,
              "--once-only-below", "P",
              "items whose smoothed repeat probability is below this are not offered again "
              "to a customer who bought them", REPEAT_GROUP),
    Parameter("repurchase.prior_strength", ("repurchase", "prior_strength"), float, POSITIVE,
              "--repeat-prior-strength", "M",
              "pseudo-buyers of the category prior on repeat probabilities "
              "(default: estimated from the data)", REPEAT_GROUP, nullable=True),
    Parameter("buy_again.basket_decay", ("repurchase", "basket_decay"), float, DECAY,
              "--basket-decay", "D",
              "weight of each older order in buy-again frequency (last order 1, then D, D^2...)",
              REPEAT_GROUP),
    Parameter("buy_again.due_weight", ("blend", "due_weight"), float, UNIT, "--due-weight", "W",
              "how much an item not yet due (days since purchase < its cycle) is held back",
              REPEAT_GROUP),
    Parameter("buy_again.repeat_exponent", ("blend", "repeat_exponent"), float, NON_NEGATIVE,
              "--repeat-exponent", "X",
              "buy-again score = share x repeat_probability^X x due-ness", REPEAT_GROUP),
    Parameter("blend.buy_again_weight", ("blend", "buy_again_weight"), float, UNIT,
              "--buy-again-weight", "W",
              "share of buy-again in the balanced strategy (the rest is discovery)",
              REPEAT_GROUP),
    Parameter("blend.copurchase_weight", ("blend", "copurchase_weight"), float, UNIT,
              "--copurchase-weight", "W",
              "share of discovery given to partners of recent orders (the rest: ALS)",
              REPEAT_GROUP),
)  # fmt: skip
BY_NAME: Mapping[str, Parameter] = {parameter.name: parameter for parameter in PARAMETERS}


def base_config(
    orders: tuple[Path, ...], snapshot_dir: Path, *, threads: int = DEFAULT_ALS.threads
) -> TrainingConfig:
    """A TrainingConfig with every parameter at its default and no input-format mapping."""
    return TrainingConfig(
        orders=orders,
        snapshot_dir=snapshot_dir,
        input_format=preset(None),
        als=replace(DEFAULT_ALS, threads=threads),
        alpha=DEFAULT_ALPHA,
        rules=RulesSettings(),
    )


def values_of(config: TrainingConfig) -> dict[str, Value]:
    """Every settable parameter's value in `config`, by manifest name (table order)."""
    return {parameter.name: parameter.read(config) for parameter in PARAMETERS}


DEFAULTS: Mapping[str, Value] = values_of(base_config((), Path()))


def apply(config: TrainingConfig, values: Mapping[str, Value]) -> TrainingConfig:
    """`config` with the named parameters set (names must be in PARAMETERS, values checked)."""
    for name, value in values.items():
        config = _set(config, BY_NAME[name].path, value)
    return config


def with_tuning(config: TrainingConfig, tuning: Mapping[str, JsonScalar]) -> TrainingConfig:
    """`config` writing `tuning` (tuning.* keys) into the manifest's parameters as well."""
    return replace(config, tuning=dict(tuning))


def _set(owner: Any, path: tuple[str, ...], value: Value) -> Any:
    # Rebuild each frozen dataclass along the path: config.als.factors -> replace(als) -> config.
    head, *rest = path
    new = _set(getattr(owner, head), tuple(rest), value) if rest else value
    return replace(owner, **{head: new})
