"""One option of a command, and a value for it from the environment or a config file,
parsed by the option's own argparse type and choices (so it is checked as a flag would be).

How values are written outside the command line:
- on/off flags (store_true): env 1/true/yes/on or 0/false/no/off; file true/false;
- options taking several values (--orders, --k): env words separated by spaces, quoted as
  in a shell for a value holding one (BASKETRY_ORDERS="a.csv 'b c.csv'"); file an array
  (a single value is a one-element list).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "BASKETRY_"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class ConfigError(Exception):
    """A bad config file or environment value; the message names where it came from."""


@dataclass(frozen=True)
class Option:
    """One settable option: its argparse action, config-file key and environment variable."""

    action: argparse.Action

    @property
    def dest(self) -> str:
        return self.action.dest

    @property
    def key(self) -> str:
        longs = [s for s in self.action.option_strings if s.startswith("--")]
        return (longs[0] if longs else self.action.option_strings[0]).lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return env_name(self.dest)

    @property
    def is_switch(self) -> bool:
        """An on/off flag taking no value (store_true, store_false, store_const)."""
        return isinstance(self.action, argparse._StoreConstAction) and not isinstance(
            self.action, argparse._AppendConstAction
        )

    @property
    def is_list(self) -> bool:
        return isinstance(self.action, argparse._AppendAction) or self.action.nargs in ("+", "*")

    @property
    def accumulates(self) -> bool:
        """append/count actions build on the namespace value, so it must start as None."""
        kinds = (argparse._AppendAction, argparse._AppendConstAction, argparse._CountAction)
        return isinstance(self.action, kinds)


def env_name(dest: str) -> str:
    return ENV_PREFIX + dest.upper()


def convert(option: Option, raw: Any, *, source: str, from_env: bool) -> Any:
    """`raw` (an environment string, or a TOML value when not `from_env`) as the option's
    parsed value."""
    action = option.action
    if option.is_switch:
        return action.const if _switch(raw, source, from_env) else action.default
    if isinstance(action, argparse._CountAction):
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ConfigError(f"{source}: expected a whole number, got {raw!r}")
        return _scalar(option, raw, int, source)
    if option.is_list:
        items = _words(raw, source) if from_env else raw if isinstance(raw, list) else [raw]
        if action.nargs == "+" and not items:
            raise ConfigError(f"{source}: expected at least one value")
        return [_scalar(option, item, action.type, source) for item in items]
    if isinstance(raw, list):
        raise ConfigError(f"{source}: expected one value, got a list")
    return _scalar(option, raw, action.type, source)


def parser_of(kind: Any) -> Callable[[str], Any]:
    """The function an argparse `type` names (None: the text as it is)."""
    if kind is None:
        return str
    if not callable(kind):
        raise TypeError(f"argparse type {kind!r} is not a function")
    parse: Callable[[str], Any] = kind
    return parse


def _scalar(option: Option, raw: Any, kind: Any, source: str) -> Any:
    if isinstance(raw, bool):
        raise ConfigError(f"{source}: expected a value for {option.key}, got a boolean")
    if isinstance(raw, list | dict):
        raise ConfigError(f"{source}: expected a single value, got {raw!r}")
    text = str(raw)
    parse = parser_of(kind)
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (TypeError, ValueError):
        name = getattr(parse, "__name__", repr(parse))
        raise ConfigError(f"{source}: invalid {name} value: {text!r}") from None
    choices = option.action.choices
    if choices is not None and value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{source}: invalid choice: {text!r} (choose from {listed})")
    return value


def _switch(raw: Any, source: str, from_env: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    word = raw.strip().lower() if from_env and isinstance(raw, str) else None
    if word in TRUE_WORDS + FALSE_WORDS:
        return word in TRUE_WORDS
    expected = "1/true/yes/on or 0/false/no/off" if from_env else "true or false"
    raise ConfigError(f"{source}: expected {expected}, got {raw!r}")


def _words(text: str, source: str) -> list[str]:
    """An environment list: words split as a shell would, quotes keeping spaces in one."""
    try:
        return shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise ConfigError(f"{source}: {exc} in {text!r}") from None
