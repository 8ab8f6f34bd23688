"""Server metrics in one process: every name of the contract from the first scrape, the known
label values at 0, and what a few calls and a snapshot swap change."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.redis_server import RedisServer
from support.servers import RunningServer, running_server
from support.synthetic import publish_synthetic_snapshot

from basketry.server.metrics import METHODS, REDIS_OPERATIONS, package_version
from basketry.v1 import recommender_pb2 as pb
from basketry.v1 import recommender_pb2_grpc

# The SERVER list of /work/briefs/common5.md, as exposed (counters with _total, histograms
# by their _count). Announcement metrics exist only with --redis-url (test_announce*).
CONTRACT = {
    "basketry_requests_total": "counter",
    "basketry_request_duration_seconds": "histogram",
    "basketry_requests_in_flight": "gauge",
    "basketry_response_items": "histogram",
    "basketry_fallbacks_total": "counter",
    "basketry_cache_requests_total": "counter",
    "basketry_recorded_orders_total": "counter",
    "basketry_recorded_orders_evicted_total": "counter",
    "basketry_recorded_orders_expired_total": "counter",
    "basketry_recorded_orders_held": "gauge",
    "basketry_sent_picks_evicted_total": "counter",
    "basketry_snapshot_info": "gauge",
    "basketry_snapshot_loaded": "gauge",
    "basketry_snapshot_created_timestamp_seconds": "gauge",
    "basketry_snapshot_age_seconds": "gauge",
    "basketry_snapshot_load_duration_seconds": "gauge",
    "basketry_snapshot_loads_total": "counter",
    "basketry_snapshot_load_failures_total": "counter",
    "basketry_snapshot_customers": "gauge",
    "basketry_snapshot_items": "gauge",
    "basketry_snapshot_rules": "gauge",
    "basketry_build_info": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds_total": "counter",
}


def scrape(running: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the server's /metrics, by (name, sorted labels)."""
    url = f"http://127.0.0.1:{running.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def names(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[str]:
    return {name for name, _labels in samples}


def value(running: RunningServer, name: str, **labels: str) -> float | None:
    return running.server.metrics.registry.get_sample_value(name, labels)


def test_a_fresh_server_exports_every_contract_metric(snapshot_dir: Path) -> None:
    with running_server(snapshot_dir, metrics_port=0) as running:
        samples = scrape(running)
    exposed = names(samples)
    for name, kind in CONTRACT.items():
        wanted = f"{name}_count" if kind == "histogram" else name
        assert wanted in exposed, name
    assert not {n for n in exposed if n.startswith("basketry_items_returned")}  # the old name
    # Known label values exist at 0 before any request.
    for method in METHODS:
        assert samples[("basketry_requests_total", (("code", "OK"), ("method", method)))] == 0
        assert samples[("basketry_requests_in_flight", (("method", method),))] == 0
    assert samples[("basketry_response_items_count", (("method", "Lookalike"),))] == 0
    assert ("basketry_response_items_count", (("method", "GetModelInfo"),)) not in samples
    for reason in ("cold_customer", "unknown_item", "empty_after_filters"):
        assert samples[("basketry_fallbacks_total", (("reason", reason),))] == 0
    for result in ("hit", "miss", "error", "bypass"):
        assert samples[("basketry_cache_requests_total", (("result", result),))] == 0
    for outcome in ("accepted", "duplicate"):
        assert samples[("basketry_recorded_orders_total", (("outcome", outcome),))] == 0
    assert samples[("basketry_build_info", (("version", package_version()),))] == 1
    assert samples[("basketry_snapshot_loaded", ())] == 1
    assert samples[("basketry_snapshot_loads_total", ())] == 1
    assert samples[("basketry_snapshot_customers", ())] == 200
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_without_a_snapshot_loaded_is_zero_and_age_is_zero(tmp_path: Path) -> None:
    with running_server(tmp_path) as running:
        assert value(running, "basketry_snapshot_loaded") == 0
        assert value(running, "basketry_snapshot_age_seconds") == 0
        assert value(running, "basketry_snapshot_created_timestamp_seconds") == 0


def test_calls_count_by_method_and_code_with_items_per_answer(server: RunningServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = recommender_pb2_grpc.RecommenderServiceStub(channel)
        answer = stub.Recommend(pb.RecommendRequest(customer_id="c0001", limit=7))
        stub.Recommend(pb.RecommendRequest(customer_id="nobody", limit=3))
        with pytest.raises(grpc.RpcError) as refused:
            stub.Recommend(pb.RecommendRequest())
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        rows = list(
            stub.RecommendBatch(
                pb.RecommendBatchRequest(customer_ids=["c0001", "c0002", "c0003"], limit=4)
            )
        )
    assert len(answer.items) == 7 and len(rows) == 3
    assert value(server, "basketry_requests_total", method="Recommend", code="OK") == 2
    assert (
        value(server, "basketry_requests_total", method="Recommend", code="INVALID_ARGUMENT") == 1
    )
    assert value(server, "basketry_requests_total", method="RecommendBatch", code="OK") == 1
    assert value(server, "basketry_request_duration_seconds_count", method="Recommend") == 3
    # Only answers count (not the refused call); a batch counts each customer's row.
    assert value(server, "basketry_response_items_count", method="Recommend") == 2
    assert value(server, "basketry_response_items_sum", method="Recommend") == 7 + 3
    assert value(server, "basketry_response_items_bucket", method="Recommend", le="5.0") == 1
    assert value(server, "basketry_response_items_count", method="RecommendBatch") == 3
    assert value(server, "basketry_response_items_sum", method="RecommendBatch") == 12
    assert value(server, "basketry_fallbacks_total", reason="cold_customer") == 1
    assert value(server, "basketry_requests_in_flight", method="Recommend") == 0


def test_a_swap_moves_the_version_info_and_counts_the_load(snapshot_dir: Path) -> None:
    with running_server(snapshot_dir) as running:
        first = running.server.holder.current().version
        assert value(running, "basketry_snapshot_info", version=first) == 1
        created = value(running, "basketry_snapshot_created_timestamp_seconds")
        age = value(running, "basketry_snapshot_age_seconds")
        assert created is not None and age is not None
        assert created > 0 and 0 <= age <= time.time() - created + 1
        second = publish_synthetic_snapshot(
            snapshot_dir, seed=1, n_customers=60, n_items=40, factors=8
        ).name
        deadline = time.monotonic() + 30
        while value(running, "basketry_snapshot_loads_total") != 2:
            assert time.monotonic() < deadline, "the new snapshot was not swapped in"
            time.sleep(0.02)
        assert value(running, "basketry_snapshot_info", version=second) == 1
        assert value(running, "basketry_snapshot_info", version=first) is None
        assert value(running, "basketry_snapshot_customers") == 60
        assert value(running, "basketry_snapshot_loaded") == 1


def test_with_redis_every_store_series_exists_from_the_start(
    snapshot_dir: Path, redis_server: RedisServer
) -> None:
    with running_server(snapshot_dir, redis_url=redis_server.url) as running:
        for store in REDIS_OPERATIONS:
            assert value(running, "basketry_redis_circuit_state", store=store) == 0
            assert (
                value(
                    running, "basketry_redis_circuit_transitions_total", store=store, state="open"
                )
                == 0
            )
        for operation in ("record", "orders_of", "sent_picks", "answer_lookup"):
            assert value(running, "basketry_redis_errors_total", operation=operation) == 0
            assert value(running, "basketry_redis_short_circuited_total", operation=operation) == 0
        assert value(running, "basketry_snapshot_announcements_total", outcome="malformed") == 0
        assert value(running, "basketry_recorded_orders_held") == 0
