"""The dashboard renders from a real scrape: a real Prometheus scrapes a real server (with
Redis, under traffic that includes client errors, fallbacks and, once Redis is killed,
server-side errors) and the training job's metrics files through a real node-exporter; every
panel query and every recording rule then returns data, and every rule evaluates cleanly."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from support.redis_server import RedisServer
from support.servers import running_server

from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc as pb_grpc

from .deploy_files import RULES, dashboard_queries, recording_queries, rules
from .deploy_files import require_binary as require
from .monitoring import (
    Prometheus,
    prometheus_config,
    running_node_exporter,
    running_prometheus,
    wait_until,
)
from .training_run import CUSTOMERS, ITEMS, TrainingRun

# Grafana's variables, as the test pins them: every job and instance, and a window that
# holds several 1 s scrapes of the whole run.
WINDOW = "1m"
VARIABLES = {
    r"\$__rate_interval": WINDOW,
    r"\$__interval": WINDOW,
    r"\$__range": WINDOW,
    r"\$\{?job\}?": ".*",
    r"\$\{?instance\}?": ".*",
}
EXPECTED_CODES = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"}


def test_every_panel_and_recording_rule_has_data_from_a_real_scrape(
    training_run: TrainingRun, redis_server: RedisServer, tmp_path: Path
) -> None:
    prometheus_binary = require("prometheus", "prometheus")
    exporter_binary = require("prometheus-node-exporter", "prometheus-node-exporter")
    with (
        running_server(
            training_run.snapshot_dir, metrics_port=0, redis_url=redis_server.url
        ) as server,
        running_node_exporter(exporter_binary, training_run.textfile_dir, tmp_path) as exporter,
        _traffic(server.target) as seen,
    ):
        targets = {"basketry": f"127.0.0.1:{server.metrics_port}", "node-exporter": exporter}
        config = prometheus_config(targets, [RULES])
        with running_prometheus(prometheus_binary, config, tmp_path) as prometheus:
            started = time.time()
            _wait_for_scrapes(prometheus, since=started, count=3)
            # Redis dies: Redis errors, open circuits, RecordOrders answers UNAVAILABLE.
            redis_server.kill()
            wait_until(
                lambda: prometheus.value('sum(basketry_requests_total{code="UNAVAILABLE"})') > 0,
                "a scraped UNAVAILABLE",
                deadline=60,
            )
            _wait_for_scrapes(prometheus, since=time.time(), count=3)
            ended = time.time()

            empty = [
                f"{query.where}: {query.expr}"
                for query in dashboard_queries() + recording_queries()
                if not _has_data(prometheus, _pinned(query.expr), query.instant, started, ended)
            ]
            assert not empty, "no data:\n" + "\n".join(empty)
            _assert_rules_evaluate(prometheus)
    assert set(seen) == EXPECTED_CODES, f"answers by code: {dict(seen)}"


def _pinned(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = re.sub(variable, value, expr)
    return expr


def _has_data(prometheus: Prometheus, expr: str, instant: bool, start: float, end: float) -> bool:
    """A well-formed answer with at least one series holding a number (not only NaN)."""
    if instant:
        series = prometheus.query(expr)
        values = [sample["value"] for sample in series]
    else:
        series = prometheus.query_range(expr, start, end)
        values = [point for sample in series for point in sample["values"]]
    for sample in series:
        assert isinstance(sample["metric"], dict), expr
    return any(math.isfinite(float(value)) for _timestamp, value in values)


def _wait_for_scrapes(prometheus: Prometheus, since: float, count: int) -> None:
    """Until both jobs are up and each has been scraped `count` times since `since`."""
    jobs = {"basketry", "node-exporter"}

    def scraped() -> bool:
        seconds = max(1, math.ceil(time.time() - since))
        scrapes = prometheus.query(f"count_over_time(up[{seconds}s])")
        counts = {sample["metric"]["job"]: float(sample["value"][1]) for sample in scrapes}
        up = {sample["metric"]["job"] for sample in prometheus.query("up == 1")}
        return up == jobs and all(counts.get(job, 0) >= count for job in jobs)

    wait_until(scraped, f"{count} scrapes of both targets", deadline=60)


def _assert_rules_evaluate(prometheus: Prometheus) -> None:
    """Prometheus evaluated every rule of rules.yml without an error."""
    evaluated: dict[str, Any] = {}

    def all_evaluated() -> bool:
        groups = prometheus.get("/api/v1/rules")["groups"]
        evaluated.clear()
        evaluated.update({rule["name"]: rule for group in groups for rule in group["rules"]})
        return bool(evaluated) and all(
            not rule["lastEvaluation"].startswith("0001") for rule in evaluated.values()
        )

    wait_until(all_evaluated, "every rule evaluated", deadline=30)
    assert set(evaluated) == {rule.get("record") or rule["alert"] for rule in rules()}
    failing = {
        name: rule["lastError"] for name, rule in evaluated.items() if rule["health"] != "ok"
    }
    assert not failing, failing


@contextmanager
def _traffic(target: str) -> Iterator[Counter[str]]:
    """Calls every RPC in a loop, on a thread, until the block ends; yields answers by code."""
    seen: Counter[str] = Counter()
    failures: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.RecommenderServiceStub(channel)
            round_number = 0
            while not stop.is_set():
                for call in _calls(stub, round_number):
                    try:
                        call()
                        seen["OK"] += 1
                    except grpc.RpcError as exc:
                        seen[exc.code().name] += 1
                round_number += 1
                stop.wait(0.05)

    def guarded() -> None:
        try:
            run()
        except BaseException as exc:  # reported by the test, not lost with the thread
            failures.append(exc)

    thread = threading.Thread(target=guarded, name="traffic", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not failures, failures


def _calls(stub: pb_grpc.RecommenderServiceStub, n: int) -> list[Any]:
    """One round: every method, warm and cold customers, repeats (cache hits), bad requests."""
    customer = CUSTOMERS[n % 10]  # repeats within the cache TTL: hits
    everything = pb.ItemFilter(exclude_item_ids=ITEMS)
    order = pb.Order(
        order_id=f"traffic-{n}",
        customer_id=customer,
        lines=[pb.OrderLine(item_id=ITEMS[n % len(ITEMS)], quantity=1)],
    )
    order.timestamp.GetCurrentTime()
    return [
        lambda: stub.Recommend(pb.RecommendRequest(customer_id=customer, limit=5)),
        lambda: stub.Recommend(pb.RecommendRequest(customer_id=f"new-{n}", limit=5)),  # cold
        lambda: stub.Recommend(pb.RecommendRequest(customer_id=customer, filter=everything)),
        lambda: stub.Recommend(pb.RecommendRequest(customer_id=customer, limit=-1)),  # invalid
        lambda: list(
            stub.RecommendBatch(pb.RecommendBatchRequest(customer_ids=CUSTOMERS[:5], limit=3))
        ),
        lambda: stub.Bundle(pb.BundleRequest(item_ids=[ITEMS[1]], limit=3)),
        lambda: stub.Bundle(pb.BundleRequest(item_ids=["no-such-item"], limit=3)),
        lambda: stub.SimilarItems(pb.SimilarItemsRequest(item_id=ITEMS[2], limit=3)),
        lambda: stub.SimilarItems(pb.SimilarItemsRequest(item_id="no-such-item")),  # not found
        lambda: stub.SimilarCustomers(pb.SimilarCustomersRequest(customer_id=customer)),
        lambda: stub.Lookalike(pb.LookalikeRequest(seed_customer_ids=CUSTOMERS[:3], limit=5)),
        lambda: stub.RecordOrders(pb.RecordOrdersRequest(orders=[order])),
        lambda: stub.GetModelInfo(pb.GetModelInfoRequest()),
    ]
