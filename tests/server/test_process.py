"""`basketry serve` as a real process: it starts, answers, and exits 0 on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import grpc

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

BASKETRY = Path(sys.executable).parent / "basketry"


def test_serve_exits_zero_promptly_on_sigterm(snapshot_dir: Path) -> None:
    process = subprocess.Popen(
        [
            str(BASKETRY),
            "serve",
            "--snapshot-dir",
            str(snapshot_dir),
            "--port",
            "0",
            "--metrics-port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        log_lines = []
        for line in process.stderr:
            log_lines.append(line)
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
            if match:
                break
        assert match, "".join(log_lines)
        with grpc.insecure_channel(match.group(1)) as channel:
            stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
            assert stub.Recommend(pb.RecommendRequest(customer_id="c0001"), timeout=10).items
        process.send_signal(signal.SIGTERM)
        # Generous bound (shared CI machines); an idle server stops well within its grace.
        _out, rest = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        assert "SIGTERM" in rest and "stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BASKETRY), "serve", "--snapshot-dir", str(tmp_path), "--poll-interval", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "poll_interval must be a positive number" in result.stderr
