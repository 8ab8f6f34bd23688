"""Log output of every `basketry` command: --log-format text|json and --log-level.

json writes one object per line (for log shippers): ts (ISO 8601, UTC), level, logger,
message, request_id when the line belongs to an RPC, exception when there is one, and the
fields passed with `extra=`. text is for people, with the request id at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_DESTS = ("log_format", "log_level")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "request_id"}


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="log lines on stderr as text or as one JSON object per line "
        "(default: env BASKETRY_LOG_FORMAT, else text)",
    )
    group.add_argument(
        "--log-level",
        type=str.lower,
        choices=LEVELS,
        default="info",
        help="least severe level logged (default: env BASKETRY_LOG_LEVEL, else info)",
    )


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr) in `log_format` from `level` up.

    Like logging.basicConfig, it leaves alone a logging setup made by an embedding program
    (the root logger already has handlers that are not ours, e.g. pytest's); a second call
    replaces the handler the first one installed.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "basketry", False)]
    if len(ours) < len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.basketry = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request_id={request_id}]" if request_id else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES:
                entry.setdefault(name, value)
        # default=str: an `extra=` value JSON cannot hold (a Path, a datetime) as its text.
        return json.dumps(entry, default=str, ensure_ascii=False)
