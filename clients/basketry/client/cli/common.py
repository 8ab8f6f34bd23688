"""What every client command shares: connection options, argument types, error handling."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import grpc

from basketry.client import (
    BasketryClient,
    BasketryClientError,
    ItemFilter,
    Strategy,
    Unavailable,
    Unimplemented,
)

Handler = Callable[[argparse.Namespace], int]

DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV = "BASKETRY_TARGET"
# The API key: this variable, or a file (--api-key-file), never a flag (process lists show
# flags). `basketry record` also takes it as api_key in its config table.
API_KEY_ENV = "BASKETRY_API_KEY"


class InputError(Exception):
    """A problem with a file or value the user gave (reported as one line, exit 1)."""


def add_connection_args(parser: argparse.ArgumentParser, *, default_timeout: float) -> None:
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--target",
        default=os.environ.get(TARGET_ENV, DEFAULT_TARGET),
        help=f"server host:port (default: ${TARGET_ENV} or {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=default_timeout,
        help=f"deadline in seconds per call (default: {default_timeout:g})",
    )
    group.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_security_args(parser)


def add_security_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS and authentication")
    group.add_argument(
        "--tls",
        action="store_true",
        help="connect over TLS, trusting the system's root certificates (implied by --tls-ca "
        "and --tls-cert)",
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="connect over TLS, trusting the CA certificate(s) in this PEM file",
    )
    group.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="client certificate (PEM), for a server with mutual TLS; needs --tls-key",
    )
    group.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the unencrypted PEM key of --tls-cert"
    )
    group.add_argument(
        "--api-key-file",
        type=Path,
        metavar="FILE",
        help=f"send the API key this file holds (default: ${API_KEY_ENV}, if set); there is "
        "no flag taking the key itself, as process lists show flags",
    )
    # Without it argparse would take `--api-key KEY` for an abbreviated --api-key-file and
    # treat the key as a path; refused at once instead, the key never echoed.
    group.add_argument(
        "--api-key",
        nargs=0,
        action=_RefuseKeyFlag,
        dest="refused_api_key_flag",  # not `api_key`: that is the secret's setting name
        help=argparse.SUPPRESS,
    )


class _RefuseKeyFlag(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"there is no --api-key flag, as process lists show flags: put the key in "
            f"${API_KEY_ENV} or in a file named by --api-key-file"
        )


def add_pick_args(parser: argparse.ArgumentParser, *, limit_help: str) -> None:
    """--limit and --strategy, shared by `recommend` and `picks`."""
    parser.add_argument("--limit", type=bounded_int(1, 500), default=10, help=limit_help)
    parser.add_argument(
        "--strategy",
        choices=[s.value for s in Strategy],
        default=Strategy.BALANCED.value,
        help="how to pick (default: balanced)",
    )


def add_filter_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument(
        "--exclude",
        nargs="+",
        action="extend",
        default=[],
        metavar="ITEM",
        help="never return these items",
    )
    group.add_argument(
        "--category",
        nargs="+",
        action="extend",
        default=[],
        metavar="C",
        help="only items in these categories",
    )
    group.add_argument(
        "--exclude-category",
        nargs="+",
        action="extend",
        default=[],
        metavar="C",
        help="never return items in these categories",
    )
    group.add_argument("--in-stock", action="store_true", help="only items in stock")
    group.add_argument("--min-price", type=float, help="only items priced at least this")
    group.add_argument("--max-price", type=float, help="only items priced at most this")


def item_filter(args: argparse.Namespace) -> ItemFilter:
    return ItemFilter(
        exclude_item_ids=args.exclude,
        only_categories=args.category,
        exclude_categories=args.exclude_category,
        in_stock_only=args.in_stock,
        min_price=args.min_price,
        max_price=args.max_price,
    )


def connect(args: argparse.Namespace, *, batch: bool = False) -> BasketryClient:
    """A client as the connection options say; BasketryClientError for an unreadable TLS or
    key file (so every command, `basketry record` too, reports it as one line)."""
    try:
        client = functools.partial(
            BasketryClient,
            args.target,
            timeout=args.timeout,
            tls=args.tls,
            tls_ca_file=args.tls_ca,
            tls_cert_file=args.tls_cert,
            tls_key_file=args.tls_key,
            api_key=api_key(args),
        )
        return client(batch_timeout=args.timeout) if batch else client()
    except ValueError as exc:
        raise BasketryClientError(str(exc)) from None


def api_key(args: argparse.Namespace) -> str | None:
    """The key of --api-key-file, else the api_key secret (`basketry record`'s environment or
    config file), else $BASKETRY_API_KEY; None without one."""
    path: Path | None = args.api_key_file
    if path is None:
        return getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV) or None
    # The path is not repeated: argparse takes `--api-key KEY` for `--api-key-file KEY`.
    hint = "(it takes a file holding the key, never the key itself)"
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read --api-key-file: {reason or exc} {hint}") from None
    if not key:
        raise ValueError(f"--api-key-file is empty {hint}")
    return key


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def guarded(name: str, run: Handler) -> Handler:
    """Turns the errors a user can cause or meet into one line on stderr and exit code 1."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BasketryClientError as error:
            report(name, describe(error, args.target))
        except InputError as error:
            report(name, str(error))
        return 1

    return handler


def report(name: str, message: str) -> None:
    one_line = " ".join(message.split())
    print(f"basketry {name}: error: {one_line}", file=sys.stderr)


def describe(error: BasketryClientError, target: str) -> str:
    if isinstance(error, Unavailable):
        return (
            f"{error} (is `basketry serve` running at {target} with a snapshot loaded, and "
            "do --tls/--tls-ca/--tls-cert match how it serves?)"
        )
    if error.code == grpc.StatusCode.UNAUTHENTICATED:
        return f"{error} (give the key in ${API_KEY_ENV} or --api-key-file)"
    if isinstance(error, Unimplemented):
        return f"the server at {target} does not support this yet: {error}"
    return str(error)
