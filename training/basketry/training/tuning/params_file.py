"""Params files: flat JSON by manifest parameter name; train, evaluate and tune read them.

    {"als.factors": 128, "blend.buy_again_weight": 0.75, ..., "tuning.seed": 42}

Keys are the settable parameters' manifest names (basketry.training.tuning.parameters),
plus "tuning.*" entries: the record `basketry tune` leaves of how the values were chosen,
carried into the manifest of a model trained from the file. Any other key is an error,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from basketry.training.config import JsonScalar
from basketry.training.errors import TrainingInputError
from basketry.training.tuning.parameters import BY_NAME, Value

TUNING_PREFIX = "tuning."


@dataclass(frozen=True)
class ParamsFile:
    values: dict[str, Value]  # settable parameters, checked
    tuning: dict[str, JsonScalar]  # tuning.* record, as written


def read_params_file(path: Path) -> ParamsFile:
    """Parse and check a params file; TrainingInputError naming the file and the problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrainingInputError(f"cannot read params file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainingInputError(f"params file {path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TrainingInputError(f"params file {path} must hold a JSON object of parameters")
    unknown = sorted(k for k in document if k not in BY_NAME and not k.startswith(TUNING_PREFIX))
    if unknown:
        raise TrainingInputError(
            f"params file {path}: unknown parameter(s) {', '.join(unknown)}; "
            f"settable: {', '.join(BY_NAME)} (and {TUNING_PREFIX}* records)"
        )
    values: dict[str, Value] = {}
    tuning: dict[str, JsonScalar] = {}
    for key, value in document.items():
        if key.startswith(TUNING_PREFIX):
            tuning[key] = _scalar(path, key, value)
            continue
        try:
            values[key] = BY_NAME[key].check(value)
        except ValueError as exc:
            raise TrainingInputError(f"params file {path}: {exc}") from exc
    return ParamsFile(values, tuning)


def write_params_file(
    path: Path, values: Mapping[str, Value], tuning: Mapping[str, JsonScalar]
) -> None:
    """Write values then the tuning record as one flat JSON object (creates parent dirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**values, **tuning}, indent=2) + "\n", encoding="utf-8")


def _scalar(path: Path, key: str, value: object) -> JsonScalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TrainingInputError(f"params file {path}: {key} must be a JSON scalar, got {value!r}")
