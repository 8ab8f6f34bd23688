"""Options from the environment and a TOML config file, beneath the command line.

An option of an operational command (`serve`, `train`, …) can be given as a flag, as the
environment variable BASKETRY_<DEST> (the option's argparse dest upper-cased, e.g.
BASKETRY_CACHE_TTL) or as a key of the command's table in a TOML config file (`--config FILE`
or BASKETRY_CONFIG; keys are the long option names with `_` or `-`, e.g. `cache_ttl = 30`).
Precedence: flag > environment > file > built-in default. Every value goes through the
option's own argparse type and choices, so a value is checked the same way wherever it
comes from; a bad one names its source.

An empty environment variable counts as unset (compose files often leave them empty).
How lists and on/off flags are written: basketry.cli.option_values.

Secrets (a Redis password) are settings without a flag, so they never show in a process
list: only the environment or the file sets them.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basketry.cli.config_file import read_table
from basketry.cli.option_values import ConfigError, Option, convert, env_name, parser_of

__all__ = ["ConfigError", "Layered", "Option", "options_of", "parse_layered"]

CONFIG_ENV = "BASKETRY_CONFIG"
# Options that configure the configuration itself: never read from the file.
META_DESTS = ("config", "print_config")


class _NotGiven:
    def __repr__(self) -> str:
        return "<not given>"


# Put in the namespace before parsing: whatever still holds it was not given as a flag.
NOT_GIVEN: Any = _NotGiven()


@dataclass
class Layered:
    """The parsed arguments and, per dest, where its value came from (for --print-config)."""

    args: argparse.Namespace
    sources: dict[str, str] = field(default_factory=dict)
    # The texts each option's value was parsed from, in order (for a type that does not
    # read its own output back, e.g. a YYYY-MM-DD date parsed to unix seconds).
    texts: dict[str, list[str]] = field(default_factory=dict)


def options_of(
    parser: argparse.ArgumentParser, *, only: Collection[str] | None = None
) -> list[Option]:
    """The parser's settable options (not --help, not the config options themselves, not
    hidden ones such as a flag that is only there to be refused)."""
    return [
        Option(action)
        for action in parser._actions
        if action.option_strings
        and action.help != argparse.SUPPRESS
        and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        and action.dest not in META_DESTS
        and (only is None or action.dest in only)
    ]


def parse_layered(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    options: Sequence[Option],
    *,
    table: str | None,
    tables: Collection[str] = (),
    secrets: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Layered:
    """Parse `argv`, then fill each of `options` not given as a flag from the environment,
    else from `[table]` of the config file (when `table` is set), else its default.

    `tables` are the table names a config file may hold; `secrets` are extra settings only
    the environment or the file can give (None when neither does). ConfigError for a bad
    file or value; a required option given nowhere is a usage error (SystemExit 2).
    """
    environ = os.environ if environ is None else environ
    required = [option for option in options if option.action.required]
    for option in required:
        option.action.required = False  # the environment or the file may satisfy it
    preset = {option.dest: None if option.accumulates else NOT_GIVEN for option in options}
    texts: dict[str, list[str]] = {}
    types = {option.dest: option.action.type for option in options}
    for option in options:
        if option.action.type is not None:
            option.action.type = _recording(option.action.type, texts.setdefault(option.dest, []))
    try:
        args = parser.parse_args(argv, argparse.Namespace(**preset))
        file_values: dict[str, Any] = {}
        file_path: Path | None = None
        if table is not None:
            file_path = _config_path(args, environ)
            if file_path is not None:
                valid = [option.key for option in options] + list(secrets)
                file_values = read_table(file_path, table, valid_keys=valid, tables=tables)
        layered = Layered(args, texts=texts)
        for option in options:
            _fill(layered, option, environ, file_values, file_path, table)
    finally:
        for option in options:
            option.action.type = types[option.dest]
    missing = [option for option in required if getattr(args, option.dest) is None]
    if missing:
        parser.error(
            "the following arguments are required: "
            + ", ".join(_where_to_set(option, table) for option in missing)
        )
    for name in secrets:
        value = _nonempty(environ.get(env_name(name)))
        source = f"env {env_name(name)}"
        if value is None and name in file_values:
            value, source = str(file_values[name]), f"file {file_path}"
        setattr(args, name, value)
        layered.sources[name] = source if value is not None else "unset"
    return layered


def env_source(option: Option) -> str:
    return f"environment variable {option.env}"


def file_source(path: Path | None, table: str | None, key: str) -> str:
    return f"{path}: [{table}] {key}"


def _config_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path | None:
    given = getattr(args, "config", None)
    if isinstance(given, Path):
        return given
    from_env = _nonempty(environ.get(CONFIG_ENV))
    return None if from_env is None else Path(from_env)


def _fill(
    layered: Layered,
    option: Option,
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    file_path: Path | None,
    table: str | None,
) -> None:
    args, dest = layered.args, option.dest
    current = getattr(args, dest)
    if not (current is NOT_GIVEN or (option.accumulates and current is None)):
        layered.sources[dest] = "flag"
        return
    from_env = _nonempty(environ.get(option.env))
    if from_env is not None:
        value = convert(option, from_env, source=env_source(option), from_env=True)
        source = f"env {option.env}"
    elif option.key in file_values:
        where = file_source(file_path, table, option.key)
        value = convert(option, file_values[option.key], source=where, from_env=False)
        source = f"file {file_path}"
    else:
        value, source = _default(option), "default"
    setattr(args, dest, value)
    layered.sources[dest] = source


def _default(option: Option) -> Any:
    default = option.action.default
    # As argparse does: a string default goes through the option's type (e.g. to a Path).
    if isinstance(default, str) and option.action.type is not None and not option.is_switch:
        return parser_of(option.action.type)(default)
    return default


def _recording(kind: Any, texts: list[str]) -> Callable[[str], Any]:
    """`kind` (an argparse type), noting each text it is given in `texts`."""
    parse = parser_of(kind)

    @functools.wraps(parse)
    def record(text: str) -> Any:
        texts.append(text)
        return parse(text)

    return record


def _nonempty(value: str | None) -> str | None:
    return value if value else None


def _where_to_set(option: Option, table: str | None) -> str:
    flag = option.action.option_strings[-1]
    if table is None:
        return f"{flag} (or {option.env})"
    return f"{flag} (or {option.env}, or {option.key} in the [{table}] table of --config)"
