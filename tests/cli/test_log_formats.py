"""The log formats: JSON lines with the documented fields, text with the request id."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import datetime

from basketry.cli.logs import JsonFormatter, TextFormatter, configure_logging


def a_record(message: str, *args: object, **attributes: object) -> logging.LogRecord:
    record = logging.LogRecord("basketry.test", logging.WARNING, __file__, 1, message, args, None)
    for name, value in attributes.items():
        setattr(record, name, value)
    return record


def test_a_json_line_has_the_documented_fields() -> None:
    record = a_record("served %d items", 3, request_id="r-1", campaign="spring", took=0.5)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "basketry.test"
    assert entry["message"] == "served 3 items"
    assert entry["request_id"] == "r-1"
    assert (entry["campaign"], entry["took"]) == ("spring", 0.5)  # extra= fields
    stamp = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))
    assert entry["ts"].endswith("Z") and stamp.utcoffset() is not None
    assert abs(stamp.timestamp() - record.created) < 0.001
    assert "exception" not in entry


def test_a_json_line_carries_the_exception_and_values_json_cannot_hold() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.path = io  # an extra= value JSON has no type for: written as its text
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: broken" in entry["exception"]
    assert "Traceback" in entry["exception"]
    assert entry["path"] == str(io)
    assert "request_id" not in entry  # not inside an RPC


def test_text_lines_end_with_the_request_id_when_there_is_one() -> None:
    formatter = TextFormatter("%(levelname)s %(name)s: %(message)s")
    assert formatter.format(a_record("hello")) == "WARNING basketry.test: hello"
    with_id = formatter.format(a_record("hello", request_id="r-2"))
    assert with_id == "WARNING basketry.test: hello [request_id=r-2]"


def test_the_command_line_sets_format_and_level() -> None:
    # A fresh interpreter: logging is process-wide and pytest owns this one's.
    program = (
        "import logging, sys\n"
        "from basketry.cli.logs import configure_logging\n"
        "configure_logging(sys.argv[1], sys.argv[2])\n"
        "log = logging.getLogger('basketry.probe')\n"
        "log.debug('quiet one')\n"
        "log.warning('loud one', extra={'n': 1})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, "json", "WARNING"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["message"], entry["n"], entry["level"]) == ("loud one", 1, "WARNING")
    done = subprocess.run(
        [sys.executable, "-c", program, "text", "debug"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [line.split(" ", 2)[2] for line in done.stderr.splitlines()] == [
        "DEBUG basketry.probe: quiet one",
        "WARNING basketry.probe: loud one",
    ]


def test_an_embedding_programs_logging_setup_is_left_alone() -> None:
    root = logging.getLogger()
    theirs = logging.NullHandler()
    root.addHandler(theirs)
    try:
        before = list(root.handlers)
        configure_logging("json", "debug", stream=io.StringIO())
        assert root.handlers == before
    finally:
        root.removeHandler(theirs)
