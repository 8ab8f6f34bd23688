"""Everything one training run needs to know, and its flat manifest form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from basketry.training.als import AlsSettings
from basketry.training.bad_rows import BadRowPolicy
from basketry.training.columns import InputFormat
from basketry.training.confidence import FORMULA, UNITS_WEIGHT
from basketry.training.repurchase import RepurchaseSettings

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class RulesSettings:
    min_pair_count: int = 2
    top_k: int = 100
    max_basket_size: int = 100
    size_buckets: int = 16
    chance_discount: float = 0.25


@dataclass(frozen=True)
class BlendSettings:
    """How the server's balanced and discover-new strategies weigh their candidate lists
    (see basketry.server.recommend; defaults measured there)."""

    buy_again_weight: float = 0.9
    copurchase_weight: float = 0.5
    due_weight: float = 0.5
    repeat_exponent: float = 1.0


@dataclass(frozen=True)
class TrainingConfig:
    orders: tuple[Path, ...]
    snapshot_dir: Path
    input_format: InputFormat
    als: AlsSettings
    alpha: float
    rules: RulesSettings
    preset: str | None = None
    catalog: Path | None = None
    cancellation_prefix: str = "C"
    bad_rows: BadRowPolicy = field(default_factory=BadRowPolicy)
    repurchase: RepurchaseSettings = field(default_factory=RepurchaseSettings)
    blend: BlendSettings = field(default_factory=BlendSettings)
    keep: int = 5
    quiet: bool = False
    # tuning.* record of the `basketry tune` search that chose these values (manifest only).
    tuning: dict[str, JsonScalar] = field(default_factory=dict)

    def parameters(self) -> dict[str, JsonScalar]:
        """The manifest's flat parameter dict (JSON scalars only)."""
        fmt = self.input_format
        return self.tuning | {
            "als.factors": self.als.factors,
            "als.regularization": self.als.regularization,
            "als.alpha": self.alpha,
            "als.iterations": self.als.iterations,
            "als.seed": self.als.seed,
            "als.threads": self.als.threads,
            "confidence.weighting": FORMULA,
            "confidence.units_weight": UNITS_WEIGHT,
            "rules.min_pair_count": self.rules.min_pair_count,
            "rules.top_k": self.rules.top_k,
            "rules.max_basket_size": self.rules.max_basket_size,
            "rules.size_buckets": self.rules.size_buckets,
            "rules.chance_discount": self.rules.chance_discount,
            "rules.score": "(n_ab - chance_discount * E_ab) / n_a, basket-size aware E",
            "repurchase.once_only_below": self.repurchase.once_only_below,
            "repurchase.prior_strength": self.repurchase.prior_strength,
            "buy_again.basket_decay": self.repurchase.basket_decay,
            "buy_again.due_weight": self.blend.due_weight,
            "buy_again.repeat_exponent": self.blend.repeat_exponent,
            "blend.buy_again_weight": self.blend.buy_again_weight,
            "blend.copurchase_weight": self.blend.copurchase_weight,
            "input.preset": self.preset,
            "input.timestamp_format": fmt.timestamp_format,
            "input.exclude_items_regex": fmt.exclude_items_regex,
            "input.customer_ids_as_floats": fmt.customer_ids_as_floats,
            "input.cancellation_prefix": self.cancellation_prefix,
            "input.on_bad_rows": self.bad_rows.on_bad_rows,
            "input.max_bad_rows_ratio": self.bad_rows.max_ratio,
        }
