"""What `basketry tune` leaves behind: the printed trial table and the tuning.* record."""

from __future__ import annotations

import math

from basketry.training.config import JsonScalar
from basketry.training.tuning.parameters import Value
from basketry.training.tuning.search import OBJECTIVE, K, Trial, TuneResult

# Short column headers for the searched parameters (others show their manifest name).
LABELS = {
    "als.factors": "factors",
    "als.regularization": "reg",
    "als.alpha": "alpha",
    "buy_again.basket_decay": "decay",
    "repurchase.once_only_below": "once<",
    "blend.buy_again_weight": "w_buy",
    "buy_again.due_weight": "due",
    "buy_again.repeat_exponent": "rep^",
    "blend.copurchase_weight": "w_co",
}


def tuning_record(result: TuneResult, *, seed: int, split: str) -> dict[str, JsonScalar]:
    """The tuning.* entries for the params file and the manifest (JSON scalars only)."""
    best, start = result.best.score, result.start
    return {
        "tuning.objective": OBJECTIVE,
        f"tuning.validation_ndcg@{K}": round(best.ndcg, 6),
        f"tuning.validation_recall@{K}": round(best.recall, 6),
        f"tuning.defaults_validation_ndcg@{K}": round(start.ndcg, 6),
        f"tuning.defaults_validation_recall@{K}": round(start.recall, 6),
        f"tuning.ndcg@{K}_gain_standard_error": _finite(best.gain_standard_error(start)),
        "tuning.trials": len(result.trials),
        "tuning.serving_evaluations": sum(t.serving_evaluations for t in result.trials),
        "tuning.chosen_trial": result.best.number,
        "tuning.seed": seed,
        "tuning.validation_customers": result.validation_customers,
        "tuning.split": split,
    }


def trials_table(result: TuneResult) -> str:
    """One row per fit, best first: its values, best serving weights, NDCG@K and Recall@K.

    "start N@K" is the same fit scored with the starting serving weights.
    """
    names = [*result.trials[0].training, *result.trials[0].serving]
    headers = ["rank", "trial", *(LABELS.get(name, name) for name in names)]
    headers += [f"N@{K}", f"R@{K}", f"start N@{K}", "fit s"]
    ordered = sorted(result.trials, key=lambda trial: (-trial.score.ndcg, trial.number))
    rows = [_row(rank, trial, names) for rank, trial in enumerate(ordered, start=1)]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("trial 0 = the starting values (flags, --params file, defaults)")
    return "\n".join(lines)


def chosen_text(result: TuneResult) -> str:
    """One line per searched parameter: its chosen value and its starting one."""
    start = {**result.trials[0].training, **result.trials[0].serving}
    chosen = {**result.best.training, **result.best.serving}
    lines = [f"chosen (trial {result.best.number}):"]
    for name, value in chosen.items():
        moved = "" if value == start[name] else f"   (was {_cell(start[name])})"
        lines.append(f"  {name} = {_cell(value)}{moved}")
    best, begin = result.best.score, result.start
    lines.append(
        f"validation NDCG@{K} {best.ndcg:.4f} (start {begin.ndcg:.4f}), "
        f"Recall@{K} {best.recall:.4f} (start {begin.recall:.4f}), "
        f"{result.validation_customers:,} customers"
    )
    lines.append(
        f"NDCG@{K} gain {best.ndcg - begin.ndcg:+.4f}, paired standard error "
        f"{best.gain_standard_error(begin):.4f} (a gain under ~2 standard errors may be noise)"
    )
    return "\n".join(lines)


def _row(rank: int, trial: Trial, names: list[str]) -> list[str]:
    values = {**trial.training, **trial.serving}
    return [
        str(rank),
        str(trial.number),
        *(_cell(values[name]) for name in names),
        f"{trial.score.ndcg:.4f}",
        f"{trial.score.recall:.4f}",
        f"{trial.start_score.ndcg:.4f}",
        f"{trial.fit_seconds:.1f}",
    ]


def _finite(value: float) -> float | None:
    # JSON has no NaN (one validation customer leaves the standard error undefined).
    return round(value, 6) if math.isfinite(value) else None


def _cell(value: Value) -> str:
    return "-" if value is None else f"{value:g}"
