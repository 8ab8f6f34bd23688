"""Which input column holds which field: canonical names, presets and mapping files."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from basketry.training.errors import TrainingInputError

REQUIRED_FIELDS = ("order_id", "customer_id", "item_id", "quantity", "timestamp")
OPTIONAL_FIELDS = ("price", "item_name")
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
# What each field's values may be (reading.KIND_TYPES): the Parquet column types allowed.
FIELD_KINDS = {
    "order_id": "id",
    "customer_id": "id",
    "item_id": "id",
    "quantity": "number",
    "timestamp": "time",
    "price": "number",
    "item_name": "text",
}


@dataclass(frozen=True)
class InputFormat:
    """How to read one kind of order history.

    `columns` maps a canonical field (ALL_FIELDS) to the input column that holds it; a
    field not in it is read from the column of its own name (optional fields may be absent).
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None  # strptime format, "unix", or None to infer
    exclude_items_regex: str | None = None  # full-match pattern for non-product item ids
    customer_ids_as_floats: bool = False  # "17850.0" -> "17850"

    def column_for(self, field_name: str) -> str:
        return self.columns.get(field_name, field_name)

    def with_columns(self, overrides: Mapping[str, str]) -> InputFormat:
        return replace(self, columns={**self.columns, **overrides})


# UCI Online Retail: non-product codes found in the data (postage, fees, manual
# adjustments, discounts, samples, vouchers). DCGS… codes are real products and stay.
ONLINE_RETAIL_NON_PRODUCTS = r"POST|DOT|C2|D|M|m|S|B|CRUK|PADS|AMAZONFEE|BANK CHARGES|gift_0001_\d+"

PRESETS: dict[str, InputFormat] = {
    "online-retail": InputFormat(
        columns={
            "order_id": "InvoiceNo",
            "customer_id": "CustomerID",
            "item_id": "StockCode",
            "quantity": "Quantity",
            "timestamp": "InvoiceDate",
            "price": "UnitPrice",
            "item_name": "Description",
        },
        timestamp_format="%Y-%m-%d %H:%M:%S",
        exclude_items_regex=ONLINE_RETAIL_NON_PRODUCTS,
        customer_ids_as_floats=True,
    ),
}


def preset(name: str | None) -> InputFormat:
    """The named preset, or the canonical format when name is None."""
    if name is None:
        return InputFormat()
    try:
        return PRESETS[name]
    except KeyError:
        raise TrainingInputError(
            f"unknown preset {name!r} (choose from {', '.join(sorted(PRESETS))})"
        ) from None


def read_mapping_file(path: Path) -> dict[str, str]:
    """A JSON or TOML file mapping canonical field names to input column names."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingInputError(f"column mapping file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingInputError(f"cannot read column mapping file {path}: {exc}") from exc
    try:
        loaded: object = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise TrainingInputError(f"column mapping file {path} is malformed: {exc}") from exc
    if not isinstance(loaded, dict):
        raise TrainingInputError(f"column mapping file {path} must hold one object/table")
    return check_mapping(loaded, source=str(path))


def check_mapping(mapping: Mapping[str, object], *, source: str) -> dict[str, str]:
    """Refuse unknown fields and non-string column names."""
    unknown = sorted(set(mapping) - set(ALL_FIELDS))
    if unknown:
        raise TrainingInputError(
            f"{source}: unknown field(s) {', '.join(unknown)} (known: {', '.join(ALL_FIELDS)})"
        )
    checked: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(value, str) or not value:
            raise TrainingInputError(f"{source}: column for {key} must be a non-empty string")
        checked[key] = value
    return checked
