"""`basketry <command> …`: dispatches to the module that owns the command.

Only the chosen command's module is imported, so `basketry recommend` does not pay for
importing the training stack, and the client commands never load server code.
A command module exposes `configure(name, parser) -> handler`; the handler takes the
parsed arguments and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS: dict[str, Command] = {
    "train": Command("basketry.training.cli", "fit models on order history and publish a snapshot"),
    "evaluate": Command(
        "basketry.training.evaluation.cli",
        "score served picks against baselines on held-out orders",
    ),
    "tune": Command("basketry.training.tuning.cli", "choose parameters on a validation split"),
    "publish": Command(
        "basketry.training.publish",
        "point LATEST at a snapshot version (or roll back) and announce it",
    ),
    "serve": Command("basketry.server.cli", "serve the latest snapshot over gRPC"),
    "export-orders": Command(
        "basketry.server.export", "write the orders recorded in Redis to an order file"
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
        "basketry.training.record", "send the orders in order files to a server (backfills)"
    ),
    "model-info": Command("basketry.client.cli", "what the server is serving"),
}


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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(
        prog=f"basketry {name}", description=command.summary, formatter_class=HelpFormatter
    )
    handler: Handler = importlib.import_module(command.module).configure(name, parser)
    try:
        return handler(parser.parse_args(args[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
