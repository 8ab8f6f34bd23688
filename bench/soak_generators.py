"""Starting the soak test's load-generator processes (bench/soak_load.py) and collecting
their results: each gets a JSON config with a common start time, and writes a JSON result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
STARTUP_SECONDS = 2.0  # between starting the processes and their common start
EXIT_MARGIN = 120.0  # seconds a generator may take past its load and re-sending


@dataclass(frozen=True)
class GeneratorSettings:
    target: str
    processes: int
    threads: int  # per process
    deadline: float  # seconds from a call's arrival to its answer
    flush_seconds: float  # re-sending deferred orders after the load
    ids_file: Path  # {"customers": [...], "items": [...]} the requests draw from


class RunningGenerators:
    def __init__(self, processes: list[tuple[subprocess.Popen[bytes], Path]], start: float):
        self.processes = processes
        self.start = start  # wall clock

    def results(self, seconds: float, flush_seconds: float) -> list[dict[str, Any]]:
        """Wait for every process; their results. RuntimeError if one failed."""
        found = []
        for process, result in self.processes:
            code = process.wait(timeout=seconds + flush_seconds + EXIT_MARGIN)
            if code != 0:
                raise RuntimeError(f"load generator failed ({code}); log beside {result}")
            found.append(json.loads(result.read_text()))
        return found

    def kill(self) -> None:
        for process, _result in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def start_generators(
    settings: GeneratorSettings, work: Path, mode: str, seconds: float, rate: float = 0.0
) -> RunningGenerators:
    """Start `settings.processes` generators in `mode` ("closed" or "open" at `rate` calls per
    second each) for `seconds`; files go to `work`."""
    start = time.time() + STARTUP_SECONDS
    processes = []
    for index in range(settings.processes):
        name = f"{mode}-{index}"
        result = work / f"{name}.result.json"
        config = {
            "target": settings.target,
            "mode": mode,
            "start_at": start,
            "seconds": seconds,
            "rate": rate,
            "threads": settings.threads,
            "seed": 1000 * index + 1,
            "order_prefix": f"soak-{int(start)}-{index}",  # unique order ids in every run
            "ids_file": str(settings.ids_file),
            "deadline": settings.deadline,
            "flush_seconds": settings.flush_seconds,
            "result": str(result),
        }
        config_path = work / f"{name}.config.json"
        config_path.write_text(json.dumps(config))
        with (work / f"{name}.log").open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, str(BENCH / "soak_load.py"), str(config_path)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        processes.append((process, result))
    return RunningGenerators(processes, start)
