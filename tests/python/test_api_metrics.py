"""Prometheus /metrics after a known workload: counts exact, read with Prometheus' own parser."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import LOOPBACK, RunningServer, records, serving, session, wait_answered
from engine_helpers import LATENCY_STAGES
from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families

from streaminfer.server.app import create_app
from streaminfer.server.config import ServerConfig

with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

QUEUE_CAPACITY = 8
QUESTION = "Which sensor reads highest?"
PUSH_ROUTE = "/v1/sessions/{session_id}/stream/push"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def small_queue_server(model_path: Path) -> Iterator[RunningServer]:
    """A queue of 8 records per session, so that a burst drops."""
    with serving(model_path, "--queue-capacity", str(QUEUE_CAPACITY), "--max-sessions", "4") as server:
        yield server


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("streaminfer_"), family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_counts_are_exact_after_a_known_workload(small_queue_server: RunningServer) -> None:
    with small_queue_server.client() as client, session(client, "iot", flash=[QUESTION]) as sid:
        base = f"/v1/sessions/{sid}"
        accepted = dropped = pushes = 0
        for batch in [records("iot", 3, 3 * i) for i in range(4)] + [records("iot", 60, 100)]:
            result = client.post(f"{base}/stream/push", json={"data": batch}).json()
            accepted, dropped, pushes = accepted + result["pushed"], dropped + result["dropped"], pushes + 1
        assert dropped > 0, "the burst of 60 into a queue of 8 drops"
        bad = client.post(f"{base}/stream/push", json={"data": [{"sid": "x"}]})
        assert bad.status_code == 422  # refused whole: counted by HTTP only

        def drained() -> dict[str, Any] | None:
            status = client.get(f"{base}/stream/status").json()
            done = status["streaming"]["queue_size"] == 0
            return status if done else None

        status = wait_for(drained, what="the queue to drain")
        wait_answered(client, sid, QUESTION)
        generated = client.post(f"{base}/generate", json={"prompt": "Summarize.", "max_tokens": 4}).json()
        assert generated["from_cache"] is False
        cached = client.post(f"{base}/generate", json={"prompt": QUESTION}).json()
        assert cached["from_cache"] is True
        status = client.get(f"{base}/stream/status").json()
        stats = client.get(f"{base}/stats").json()
        samples = scrape(client)

    s = {"session": sid}
    counters = status["statistics"]
    assert value(samples, "streaminfer_records_enqueued_total", **s) == accepted == counters["total_enqueued"]
    assert value(samples, "streaminfer_records_dropped_total", **s) == dropped == counters["total_dropped"]
    processed = value(samples, "streaminfer_records_processed_total", **s)
    skipped = value(samples, "streaminfer_records_skipped_total", **s)
    assert processed == counters["items_processed"] and processed + skipped == accepted
    data_tokens = value(samples, "streaminfer_tokens_decoded_total", kind="data", **s)
    assert data_tokens == status["data"]["total_data_tokens"] > 0
    assert value(samples, "streaminfer_tokens_decoded_total", kind="prefix", **s) > 0
    assert value(samples, "streaminfer_generate_requests_total", outcome="completed", **s) == 1
    assert value(samples, "streaminfer_generate_requests_total", outcome="cached", **s) == 1
    assert value(samples, "streaminfer_generate_requests_total", outcome="failed", **s) == 0
    assert value(samples, "streaminfer_queue_size", **s) == 0
    assert value(samples, "streaminfer_kv_cells_total", **s) == 1024
    assert 0 < value(samples, "streaminfer_kv_cells_used", **s) <= 1024

    http = {"route": PUSH_ROUTE, "method": "POST"}
    assert value(samples, "streaminfer_http_requests_total", status="200", **http) == pushes
    assert value(samples, "streaminfer_http_requests_total", status="422", **http) == 1

    def count(stage: str) -> float:
        return value(samples, f"streaminfer_{stage}_seconds_count", **s)

    assert count("push") == pushes  # the refused push never reached the queue
    assert count("record_wait") == count("tokenize") == accepted - skipped
    assert count("decode_batch") == counters["batches_processed"]
    flash_runs = value(samples, "streaminfer_flash_refreshes_total", **s)
    assert count("flash_prefill") == count("flash_answer") == flash_runs >= 1
    assert count("fresh_answer") >= 1
    assert count("generate_first_token") == count("generate_total") == 1
    for stage in LATENCY_STAGES:  # cumulative buckets, ending at the count
        buckets = sorted(
            (float(dict(labels)["le"]), v)
            for (name, labels), v in samples.items()
            if name == f"streaminfer_{stage}_seconds_bucket" and dict(labels)["session"] == sid
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1][1] == count(stage)
        latency = stats["latency"][stage]  # the same histograms, as /stats reports them
        assert latency["count"] == count(stage)
        assert 0 <= latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert set(stats["latency"]) == set(LATENCY_STAGES)


def test_no_metrics_turns_the_route_off() -> None:
    app = create_app(ServerConfig(model_path="unused.gguf", metrics=False))
    with TestClient(app, base_url=LOOPBACK) as client:
        assert client.get("/metrics").status_code == 404
    with TestClient(create_app(ServerConfig(model_path="unused.gguf")), base_url=LOOPBACK) as client:
        assert client.get("/metrics").status_code == 200
