"""`basketry serve` as a real process, its log (stderr) read as it comes, for tests of what
only the whole command shows: options from flags and the environment, the log it writes."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

BASKETRY = Path(sys.executable).parent / "basketry"
START_DEADLINE = 60.0  # generous: a shared CI machine, maybe several interpreters starting


class ServeProcess:
    def __init__(self, arguments: Sequence[str], environment: Mapping[str, str]) -> None:
        self.supervised = "--processes" in arguments
        self.process = subprocess.Popen(
            [str(BASKETRY), "serve", *arguments],
            env=dict(environment),
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        # Drained all along, so the server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, deadline: float = START_DEADLINE) -> re.Match[str]:
        """The first log line matching `pattern`; AssertionError (with the log) if none comes."""
        compiled = re.compile(pattern)
        until = time.monotonic() + deadline
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = compiled.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = until - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no log line matches {pattern!r}:\n{self.log}")
                self._changed.wait(min(left, 0.5))

    def target(self) -> str:
        """host:port of the gRPC port, once it serves: from the "listening" line of a single
        process, or the "all N workers serving" line of a supervisor (--processes)."""
        ready = "workers serving on" if self.supervised else "listening on"
        return self.wait_for(rf"{ready} (127\.0\.0\.1:\d+)")[1]

    @property
    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def stop(self) -> int:
        """SIGTERM, wait for the drain; returns the exit code (the log is complete then)."""
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=START_DEADLINE)
        self._reader.join(timeout=START_DEADLINE)
        return code
