"""deploy/config/basketry.toml, the commented reference configuration, cannot go stale: it
parses, the commands accept it, it names every option of serve and train, and each value
it shows is the built-in default."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from basketry.cli.config_sources import options_of, parse_layered
from basketry.cli.logs import add_log_arguments
from basketry.cli.main import COMMANDS, CONFIG_TABLES
from basketry.cli.option_values import Option, convert
from basketry.server import cli as server_cli
from basketry.training import cli as training_cli
from basketry.training.tuning.parameters import DEFAULTS as PARAMETER_DEFAULTS
from basketry.training.tuning.parameters import PARAMETERS

REFERENCE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "basketry.toml"
CONFIGURE = {"serve": server_cli.configure, "train": training_cli.configure}
# Train's model flags default to None (a --params file decides); their real defaults:
MODEL_DEFAULTS = {parameter.dest: PARAMETER_DEFAULTS[parameter.name] for parameter in PARAMETERS}
COMMENTED_KEY = re.compile(r"^# ([a-z_]+) = (.+)$")


def command_options(command: str) -> list[Option]:
    parser = argparse.ArgumentParser()
    CONFIGURE[command](command, parser)
    add_log_arguments(parser)
    return options_of(parser)


def sections(text: str) -> dict[str, list[str]]:
    """Lines per [table] of the file."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        header = re.fullmatch(r"\[([a-z-]+)\]", line)
        if header:
            current = found.setdefault(header.group(1), [])
        else:
            current.append(line)
    return found


def commented_values(lines: list[str]) -> dict[str, Any]:
    """`# key = value` lines: options shown with an example or a machine-dependent default."""
    values: dict[str, Any] = {}
    for line in lines:
        match = COMMENTED_KEY.match(line)
        if match:
            values[match.group(1)] = tomllib.loads(f"v = {match.group(2)}")["v"]
    return values


def test_the_reference_config_parses_and_has_only_command_tables() -> None:
    document = tomllib.loads(REFERENCE.read_text(encoding="utf-8"))
    assert set(document) == {"serve", "train"}
    assert set(document) <= set(CONFIG_TABLES)


@pytest.mark.parametrize("command", ["serve", "train"])
def test_the_reference_config_lists_every_option_once(command: str) -> None:
    lines = sections(REFERENCE.read_text(encoding="utf-8"))[command]
    active = tomllib.loads(REFERENCE.read_text(encoding="utf-8"))[command]
    commented = commented_values(lines)
    keys = [option.key for option in command_options(command)]
    secrets = list(COMMANDS[command].secrets)
    assert not set(active) & set(commented), "an option is both set and commented out"
    listed = set(active) | set(commented)
    assert sorted((set(keys) | set(secrets)) - listed) == [], "options missing from the file"
    assert sorted(listed - set(keys) - set(secrets)) == [], "keys that are no options"


@pytest.mark.parametrize("command", ["serve", "train"])
def test_the_reference_values_are_the_built_in_defaults(command: str) -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    active = tomllib.loads(text)[command]
    commented = commented_values(sections(text)[command])
    for option in command_options(command):
        default = option.action.default
        if option.key in active:
            value = convert(option, active[option.key], source=option.key, from_env=False)
            assert value == default, f"{option.key}: {value!r} is not the default {default!r}"
        elif option.dest in MODEL_DEFAULTS and MODEL_DEFAULTS[option.dest] is not None:
            # Commented out so a --params file decides, but shown with the default.
            value = convert(option, commented[option.key], source=option.key, from_env=False)
            assert value == MODEL_DEFAULTS[option.dest], option.key
        else:
            # Commented out: no default (required or optional), or one the machine decides.
            assert default is None or option.dest == "threads", (
                f"{option.key} has a default ({default!r}): set it, not commented out"
            )


@pytest.mark.parametrize("command", ["serve", "train"])
def test_the_commands_accept_the_reference_config(command: str, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    CONFIGURE[command](command, parser)
    add_log_arguments(parser)
    parser.add_argument("--config", type=Path)
    required = ["--snapshot-dir", str(tmp_path)]
    if command == "train":
        required += ["--orders", "orders.csv"]
    layered = parse_layered(
        parser,
        [*required, "--config", str(REFERENCE)],
        options_of(parser),
        table=command,
        tables=CONFIG_TABLES,
        secrets=COMMANDS[command].secrets,
        environ={},
    )
    assert {source for dest, source in layered.sources.items() if dest != "redis_password"} <= {
        "flag",
        "default",
        f"file {REFERENCE}",
    }
    if command == "serve":
        assert server_cli.settings_from_args(layered.args).port == 50051
