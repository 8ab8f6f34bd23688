"""`--print-config`: the effective options of a command as a TOML table `--config` reads back.

Each line says where its value came from. Secrets are never shown (only whether they are
set), and a password inside a URL is replaced by REDACTED.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from basketry.cli.config_sources import Layered
from basketry.cli.option_values import Option, parser_of

REDACTED = "REDACTED"


def render(
    command: str, options: Sequence[Option], layered: Layered, secrets: Sequence[str]
) -> str:
    args = layered.args
    lines = [
        f"# Effective configuration of `basketry {command}`",
        "# (flag > BASKETRY_* environment > config file > built-in default).",
        "# Use it with --config FILE; secrets are not shown.",
        f"[{command}]",
    ]
    for option in options:
        value = getattr(args, option.dest)
        source = layered.sources.get(option.dest, "default")
        if value is None:
            lines.append(f"# {option.key}: unset ({source})")
        else:
            texts = layered.texts.get(option.dest, [])
            lines.append(f"{option.key} = {toml_value(option, value, texts)}  # {source}")
    for name in secrets:
        if getattr(args, name, None) is None:
            lines.append(f"# {name}: unset (a secret: set it in the environment or here)")
        else:
            lines.append(f"# {name}: set, not shown ({layered.sources.get(name)})")
    return "\n".join(lines) + "\n"


def toml_value(option: Option, value: Any, texts: Sequence[str] = ()) -> str:
    """`value` (as parsed from `texts`, when known) written so that the option's type reads
    it back to the same value."""
    if option.is_switch:
        return "true" if value == option.action.const else "false"
    if isinstance(value, list | tuple):
        item_texts = list(texts) if len(texts) == len(value) else [None] * len(value)
        return "[" + ", ".join(map(partial(_portable, option), value, item_texts)) + "]"
    return _portable(option, value, texts[-1] if texts else None)


def _portable(option: Option, value: Any, text: str | None) -> str:
    """The value itself when the option's type reads it back, else the text it came from."""
    if text is None or _reads_back(option, value):
        return _scalar(value)
    return _string(redact(text))


def _reads_back(option: Option, value: Any) -> bool:
    if option.action.type is None:
        return True
    try:
        return bool(parser_of(option.action.type)(str(value)) == value)
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False


def redact(text: str) -> str:
    """`text` with the password of a URL in it replaced by REDACTED."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # not parseable as a URL: show none of it rather than a secret
        return REDACTED
    if password is None:
        return text
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:{REDACTED}@{hostport}").geturl()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return _string(redact(str(value)))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _string(text: str) -> str:
    escaped = "".join(
        _ESCAPES.get(char)
        or (f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in text
    )
    return f'"{escaped}"'
