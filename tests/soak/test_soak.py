"""The soak test in its CI form: `python bench/soak.py --short` (the same code as the 10-minute
bench), run once for this module, its figures asserted here.

About 90 s on two cores: a real redis-server and `basketry serve --processes 2` under an
open-loop mix at half the measured capacity for 60 s, while five snapshot versions are
swapped in, a corrupted one is published, Redis is SIGKILLed and restarted, and one worker
is sent SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.redis_server import require_redis_server

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
# Bounds a hang only (pytest's own timeout is 300 s); the run takes about 90 s.
HANG_SECONDS = 270

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_redis_server()
    work = tmp_path_factory.mktemp("soak")
    result = work / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--short", "--json", str(result), "--work-dir", str(work)],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )
    assert result.exists(), f"no figures (exit {run.returncode}):\n{run.stderr[-4000:]}"
    figures: dict[str, Any] = json.loads(result.read_text())
    figures["exit_code"] = run.returncode
    figures["table"] = run.stdout
    return figures


def failed_checks(figures: dict[str, Any]) -> dict[str, Any]:
    return {name: check["detail"] for name, check in figures["checks"].items() if not check["ok"]}


def test_no_request_failed_besides_the_deliberately_invalid_ones(soak: dict[str, Any]) -> None:
    assert soak["failed"] == 0, (soak["failed_by_kind"], soak["failure_notes"])
    sent = sum(sum(outcomes.values()) for outcomes in soak["requests"].values())
    assert sent > 1000
    assert set(soak["requests"]) >= {"Recommend", "Bundle", "RecordOrders", "RecommendBatch"}


def test_invalid_requests_get_invalid_argument(soak: dict[str, Any]) -> None:
    invalid = soak["invalid"]
    assert invalid["sent"] > 0
    assert invalid["invalid_argument"] == invalid["sent"], soak["requests"]["invalid"]


def test_every_accepted_order_is_in_redis_after_the_kill(soak: dict[str, Any]) -> None:
    orders = soak["orders"]
    assert orders["accepted"] > 0
    assert orders["lost"] == 0, orders["lost_examples"]
    assert orders["not_held"] == 0
    # Orders refused while Redis was down were re-sent and accepted once it was back.
    assert orders["never_accepted"] == 0
    assert soak["redis"]["outage_s"] > 0


def test_swaps_served_and_the_corrupted_version_refused(soak: dict[str, Any]) -> None:
    assert soak["swaps"]["served_by_every_worker"] == soak["swaps"]["planned"] >= 5
    corrupt = soak["corrupt"]
    assert corrupt["refusals"] >= 1
    assert corrupt["serving_after"] == corrupt["serving_before"]


def test_a_worker_sent_sigterm_is_replaced(soak: dict[str, Any]) -> None:
    restart = soak["worker_restart"]
    assert restart["restarts"] >= 1
    assert restart["new_pid"] != restart["pid"]


def test_memory_growth_of_every_process_measured_is_under_10_percent(
    soak: dict[str, Any],
) -> None:
    measured = {row["pid"]: row["growth_pct"] for row in soak["rss"] if "growth_pct" in row}
    assert len(measured) >= 2, soak["rss"]  # the supervisor and the worker left running
    assert all(growth < 10 for growth in measured.values()), measured


def test_exit_code_says_whether_every_check_passed(soak: dict[str, Any]) -> None:
    assert failed_checks(soak) == {}, soak["table"]
    assert soak["ok"] is True
    assert soak["exit_code"] == 0
