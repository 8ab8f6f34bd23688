"""The TOML config file: one table per command, keys checked against the command's options."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from basketry.cli.option_values import ConfigError


def read_table(
    path: Path, table: str, *, valid_keys: Sequence[str], tables: Collection[str]
) -> dict[str, Any]:
    """The `[table]` of config file `path` with keys normalised to underscores (empty when
    the file has no such table). ConfigError for an unreadable or invalid file, a key outside
    `valid_keys` or a table outside `tables`."""
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for name, value in document.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: top-level key {name!r}: options go in a table named after the "
                f"command, e.g. [{table}]"
            )
        if name not in tables:
            raise ConfigError(
                f"{path}: unknown table [{name}]{_did_you_mean(name, tables)}; "
                f"tables: {', '.join(f'[{t}]' for t in sorted(tables))}"
            )
    values: dict[str, Any] = {}
    for raw_key, value in document.get(table, {}).items():
        key = raw_key.replace("-", "_")
        if key not in valid_keys:
            raise ConfigError(
                f"{path}: unknown key {raw_key!r} in [{table}]{_did_you_mean(key, valid_keys)}; "
                f"valid keys: {', '.join(sorted(valid_keys))}"
            )
        if key in values:
            raise ConfigError(f"{path}: [{table}] sets {key!r} twice (with '_' and '-')")
        if isinstance(value, dict):
            raise ConfigError(f"{path}: [{table}] {raw_key}: expected a value, not a table")
        values[key] = value
    return values


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
