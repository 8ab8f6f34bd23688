"""Recommend throughput against an empty-handler server, one and several server processes.

In one run, with the same client (P client processes, each running C concurrent asyncio
callers over its own connections) against each server in turn:
1. the reference: bench/reference_server.py — same API, a fixed answer, no work;
2. `basketry serve` (one process);
3. `basketry serve --processes N` (SO_REUSEPORT workers);
it measures the maximum throughput (closed loop for --seconds) and, for each Basketry
server, p50/p99 latency at half that throughput (open loop: requests sent on a fixed
schedule, so a slow answer cannot slow the sender down). Ratios: Basketry / reference and
N processes / one. Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.pool
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from serve_latency import free_port, p99, serving, snapshot_or_bundled

from basketry.snapshot import load_latest
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

BASKETRY = [sys.executable, "-m", "basketry.cli.main"]
# Separate connections per channel (grpc shares one per target by default), so SO_REUSEPORT
# can spread them over the server's processes.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


Outcome = tuple[int, list[float], int]  # calls answered, their latencies (ms), failed calls


@dataclass
class Load:
    calls_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


async def _closed_loop(target: str, customers: list[str], callers: int, seconds: float) -> Outcome:
    channels = [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(callers)]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(channel: grpc.aio.Channel, seed: int) -> None:
        nonlocal errors
        stub = pb_grpc.RecommenderServiceStub(channel)
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await stub.Recommend(
                    pb.RecommendRequest(customer_id=rng.choice(customers), limit=10), timeout=10
                )
                latencies.append((time.perf_counter() - started) * 1000)
            except grpc.aio.AioRpcError:
                errors += 1

    await asyncio.gather(*(caller(channel, i) for i, channel in enumerate(channels)))
    for channel in channels:
        await channel.close()
    return len(latencies), latencies, errors


async def _open_loop(target: str, customers: list[str], rate: float, seconds: float) -> Outcome:
    # Several connections, used in turn: with SO_REUSEPORT one connection reaches one server
    # process, so a single channel would load one worker of N.
    channels = [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(8)]
    stubs = [pb_grpc.RecommenderServiceStub(channel) for channel in channels]
    rng = random.Random(11)
    latencies: list[float] = []
    errors = 0

    async def one(stub: pb_grpc.RecommenderServiceStub, customer: str) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            await stub.Recommend(pb.RecommendRequest(customer_id=customer, limit=10), timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
        except grpc.aio.AioRpcError:
            errors += 1

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stub = stubs[n % len(stubs)]
        tasks.append(asyncio.ensure_future(one(stub, rng.choice(customers))))
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    return len(latencies), latencies, errors


def _client(args: tuple[str, str, list[str], float, float, int]) -> Outcome:
    mode, target, customers, value, seconds, seed = args
    random.seed(seed)
    if mode == "closed":
        return asyncio.run(_closed_loop(target, customers, int(value), seconds))
    return asyncio.run(_open_loop(target, customers, value, seconds))


def run_load(
    pool: multiprocessing.pool.Pool,
    mode: str,
    target: str,
    customers: list[str],
    value: float,
    seconds: float,
    clients: int,
) -> Load:
    per_client = value if mode == "closed" else value / clients
    results = pool.map(
        _client, [(mode, target, customers, per_client, seconds, i) for i in range(clients)]
    )
    latencies = sorted(lat for _, lats, _ in results for lat in lats)
    done = sum(count for count, _, _ in results)
    return Load(
        calls_per_second=done / seconds,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=p99(latencies) if latencies else float("nan"),
        errors=sum(errors for _, _, errors in results),
    )


def measure_server(
    command: list[str],
    port: int,
    customers: list[str],
    args: argparse.Namespace,
    pool: multiprocessing.pool.Pool,
    half_load: bool,
) -> tuple[Load, Load | None]:
    target = f"127.0.0.1:{port}"
    with serving(command, target):
        run_load(pool, "closed", target, customers, args.callers, 2.0, args.clients)  # warm-up
        peak = run_load(pool, "closed", target, customers, args.callers, args.seconds, args.clients)
        half = None
        if half_load:
            rate = peak.calls_per_second / 2
            half = run_load(pool, "open", target, customers, rate, args.seconds, args.clients)
        return peak, half


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot-dir", type=Path, help="default: train one on the bundled data")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers per client")
    parser.add_argument("--processes", type=int, default=2, help="server processes, multi-core run")
    parser.add_argument(
        "--server-workers", type=int, help="basketry serve --workers (default: the server's)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    snapshot_dir = snapshot_or_bundled(args.snapshot_dir)
    customers = [str(c) for c in load_latest(snapshot_dir).arrays["customer_ids"]]
    serve = [*BASKETRY, "serve", "--snapshot-dir", str(snapshot_dir), "--metrics-port", "0",
             "--cache-ttl", "0"]  # fmt: skip
    if args.server_workers:
        serve += ["--workers", str(args.server_workers)]
    print(
        f"{args.clients} client processes x {args.callers} callers, {args.seconds:.0f} s each",
        flush=True,
    )
    with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
        port = free_port()
        reference, _ = measure_server(
            [sys.executable, str(Path(__file__).with_name("reference_server.py")),
             "--port", str(port)],
            port, customers, args, pool, half_load=False,
        )  # fmt: skip
        port = free_port()
        single, single_half = measure_server(
            [*serve, "--port", str(port)], port, customers, args, pool, half_load=True
        )
        port = free_port()
        multi, multi_half = measure_server(
            [*serve, "--port", str(port), "--processes", str(args.processes)],
            port, customers, args, pool, half_load=True,
        )  # fmt: skip
    assert single_half is not None and multi_half is not None
    rows = [
        ("reference, max calls/s", reference.calls_per_second, ""),
        ("basketry 1 process, max calls/s", single.calls_per_second,
         f"{single.calls_per_second / reference.calls_per_second:.2f} of reference"),
        (f"basketry {args.processes} processes, max calls/s", multi.calls_per_second,
         f"{multi.calls_per_second / single.calls_per_second:.2f}x one process"),
        ("1 process at half load: p50 ms", single_half.p50_ms, ""),
        ("1 process at half load: p99 ms", single_half.p99_ms,
         f"{single_half.p99_ms / single_half.p50_ms:.1f}x p50"),
        (f"{args.processes} processes at half load: p50 ms", multi_half.p50_ms, ""),
        (f"{args.processes} processes at half load: p99 ms", multi_half.p99_ms,
         f"{multi_half.p99_ms / multi_half.p50_ms:.1f}x p50"),
    ]  # fmt: skip
    for name, value, note in rows:
        print(f"{name:<42}{value:>10.2f}  {note}")
    errors = reference.errors + single.errors + multi.errors
    errors += single_half.errors + multi_half.errors
    print(f"failed calls: {errors}")
    if args.json:
        figures = {
            "reference": asdict(reference),
            "single": asdict(single),
            "single_half_load": asdict(single_half),
            "multi": asdict(multi),
            "multi_half_load": asdict(multi_half),
            "processes": args.processes,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
