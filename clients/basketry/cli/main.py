"""`basketry <command> …`: dispatches to the module that owns the command.

Only the chosen command's module is imported, so `basketry recommend` does not pay for
importing the training stack, and the client commands never load server code.
A command module exposes `configure(name, parser) -> handler`; the handler takes the
parsed arguments and returns the process exit code. A module may also expose
`check_config(args)`, raising ValueError for settings it would refuse at start, so that
`--print-config` never prints a configuration the command would not run with.

The operational commands (configurable=True) take every option also from BASKETRY_*
environment variables and a TOML config file (basketry.cli.config_sources); every command
takes --log-format and --log-level (basketry.cli.logs), which logging is set up from.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from basketry.cli.config_sources import ConfigError, Layered, Option, options_of, parse_layered
from basketry.cli.logs import LOG_DESTS, add_log_arguments, configure_logging
from basketry.cli.print_config import render

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    module: str
    summary: str
    # Options also from BASKETRY_* variables and the [name] table of --config; the client
    # query commands keep flags only (and the environment for their log options).
    configurable: bool = False
    # Settings no flag sets, so they never show in a process list: env or config file only.
    secrets: tuple[str, ...] = ()


REDIS_SECRETS = ("redis_password",)
# The API key a client command sends (the query commands read BASKETRY_API_KEY themselves).
CLIENT_SECRETS = ("api_key",)

COMMANDS: dict[str, Command] = {
    "train": Command(
        "basketry.training.cli",
        "fit models on order history and publish a snapshot",
        configurable=True,
        secrets=REDIS_SECRETS,
    ),
    "evaluate": Command(
        "basketry.training.evaluation.cli",
        "score served picks against baselines on held-out orders",
        configurable=True,
    ),
    "tune": Command(
        "basketry.training.tuning.cli",
        "choose parameters on a validation split",
        configurable=True,
    ),
    "publish": Command(
        "basketry.training.publish",
        "point LATEST at a snapshot version (or roll back) and announce it",
        configurable=True,
        secrets=REDIS_SECRETS,
    ),
    "serve": Command(
        "basketry.server.cli",
        "serve the latest snapshot over gRPC",
        configurable=True,
        secrets=REDIS_SECRETS,
    ),
    "export-orders": Command(
        "basketry.server.export",
        "write the orders recorded in Redis to an order file",
        configurable=True,
        secrets=REDIS_SECRETS,
    ),
    "recommend": Command("basketry.client.cli", "picks for one customer"),
    "picks": Command(
        "basketry.client.cli", "picks for many customers to CSV/JSONL (mail campaigns)"
    ),
    "bundle": Command("basketry.client.cli", "items bought together with a basket"),
    "similar-items": Command("basketry.client.cli", "items most like an item"),
    "similar-customers": Command("basketry.client.cli", "customers most like a customer"),
    "lookalike": Command("basketry.client.cli", "customers most like a seed audience"),
    "record": Command(
        "basketry.training.record",
        "send the orders in order files to a server (backfills)",
        configurable=True,
        secrets=CLIENT_SECRETS,
    ),
    "model-info": Command("basketry.client.cli", "what the server is serving"),
    "generate": Command(
        "basketry.training.generate_cli",
        "write a synthetic order history for benchmarks and scale tests",
    ),
}
CONFIG_TABLES = tuple(name for name, command in COMMANDS.items() if command.configurable)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows an option's default unless it has none or its help already names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, argparse.SUPPRESS, False, [], ()) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def _top_level_help() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name.ljust(width)}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    return "commands:\n" + "\n".join(lines) + "\n\nRun `basketry <command> --help` for its options."


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="basketry",
        usage="basketry <command> [options]",
        description="Basketry: recommendations from order history, served over gRPC.",
        epilog=_top_level_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if not args or args[0] in ("-h", "--help"):
        top.print_help()
        return 0 if args else 2
    name = args[0]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r} (choose from {', '.join(COMMANDS)})")
    command = COMMANDS[name]
    parser = argparse.ArgumentParser(
        prog=f"basketry {name}", description=command.summary, formatter_class=HelpFormatter
    )
    module = importlib.import_module(command.module)
    handler: Handler = module.configure(name, parser)
    add_log_arguments(parser)
    if command.configurable:
        add_config_arguments(parser, name)
    options = options_of(parser, only=None if command.configurable else LOG_DESTS)
    try:
        layered = parse_layered(
            parser,
            args[1:],
            options,
            table=name if command.configurable else None,
            tables=CONFIG_TABLES,
            secrets=command.secrets,
            environ=os.environ,
        )
    except ConfigError as exc:
        print(f"basketry {name}: error: {exc}", file=sys.stderr)
        return 2
    if command.configurable and layered.args.print_config:
        return _print_config(name, module, options, layered)
    configure_logging(layered.args.log_format, layered.args.log_level)
    try:
        return handler(layered.args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _print_config(
    name: str, module: ModuleType, options: Sequence[Option], layered: Layered
) -> int:
    """Check the configuration as the command would at start, then print it; exit code."""
    check_config: Callable[[argparse.Namespace], None] | None = getattr(
        module, "check_config", None
    )
    if check_config is not None:
        try:
            check_config(layered.args)
        except ValueError as exc:
            print(f"basketry {name}: error: {exc}", file=sys.stderr)
            return 2
    print(render(name, options, layered, COMMANDS[name].secrets), end="")
    return 0


def add_config_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """--config and --print-config, and an epilog saying where else options come from."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML file whose [{command}] table sets options, e.g. cache_ttl = 30 "
        "(default: env BASKETRY_CONFIG)",
    )
    group.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective options as a TOML table (secrets not shown) and exit",
    )
    note = (
        "Every option can also be set by the environment variable BASKETRY_<OPTION>\n"
        f"(e.g. BASKETRY_SNAPSHOT_DIR) or in the [{command}] table of the --config file;\n"
        "a flag wins over the environment, which wins over the file."
    )
    parser.epilog = f"{parser.epilog}\n\n{note}" if parser.epilog else note


if __name__ == "__main__":
    sys.exit(main())
