"""Streaming data: push, stream status, per-type window statistics, and the push errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_server import JSON, MAX_BODY_BYTES, RECORD_EXAMPLES, assert_error, records, session
from polling import wait_for

PUSH_KEYS = {"pushed", "dropped", "queue_size", "queue_capacity", "total_enqueued", "total_dropped"}


def _status(client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.get(f"/v1/sessions/{sid}/stream/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_count(client: httpx.Client, sid: str, count: int) -> dict[str, Any]:
    return wait_for(lambda: (s := _status(client, sid))["data"]["data_count"] >= count and s)


def test_push_returns_at_once_with_queue_figures(client: httpx.Client, session_id: str) -> None:
    response = client.post(f"/v1/sessions/{session_id}/stream/push", json={"data": records("ohlcv", 5)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PUSH_KEYS
    assert body["pushed"] == 5 and body["dropped"] == 0
    assert body["total_enqueued"] == 5 and body["total_dropped"] == 0
    assert 0 <= body["queue_size"] <= 5 <= body["queue_capacity"]

    status = _wait_count(client, session_id, 5)
    assert status["type"] == "ohlcv"
    streaming, statistics, data = status["streaming"], status["statistics"], status["data"]
    assert streaming["initialized"] is True and streaming["running"] is True and streaming["error"] is False
    assert streaming["queue_capacity"] == body["queue_capacity"]
    assert streaming["window_size"] > 0
    assert statistics["total_enqueued"] == 5 and statistics["total_dropped"] == 0
    assert statistics["items_processed"] == 5 and statistics["batches_processed"] >= 1
    assert data["initialized"] is True and data["data_count"] == 5
    assert data["total_data_tokens"] > 0
    if statistics["batches_processed"]:
        expected = statistics["total_process_time_us"] / statistics["batches_processed"]
        assert math.isclose(statistics["avg_process_time_us"], expected, rel_tol=1e-6, abs_tol=1e-6)

    state = client.get(f"/v1/sessions/{session_id}/state").json()
    assert state["data_count"] == 5
    assert state["last_inject_us"] > 0
    assert "BTC" in state["context_text"]
    assert state["pos_next"] == data["pos_next"]


def test_window_keeps_at_most_window_size_records(client: httpx.Client) -> None:
    with session(client, "iot", window_size=4) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("iot", 6)})
        # Records that would be evicted before being queried may be skipped, not decoded:
        # wait for the newest one to be in the window.
        state_url = f"/v1/sessions/{sid}/state"
        state = wait_for(lambda: "25.5" in (s := client.get(state_url).json())["context_text"] and s)
        assert 1 <= state["data_count"] <= 4
        assert state["data_region"]["window_size"] == 4
        assert "20.5" not in state["context_text"]  # the oldest is gone


def test_invalid_record_rejects_the_whole_body(client: httpx.Client, session_id: str) -> None:
    batch = records("ohlcv", 5)
    batch[3] = {**batch[3], "h": "high"}
    error = assert_error(
        client.post(f"/v1/sessions/{session_id}/stream/push", json={"data": batch}), 422, "data[3].h"
    )
    assert "data[3].h" in error["message"]
    batch[3] = {k: v for k, v in records("ohlcv", 1)[0].items() if k != "c"}
    assert_error(
        client.post(f"/v1/sessions/{session_id}/stream/push", json={"data": batch}), 422, "data[3].c"
    )
    status = _status(client, session_id)
    assert status["statistics"]["total_enqueued"] == 0  # nothing was enqueued


@pytest.mark.parametrize(
    ("data_type", "field", "value"),
    [
        ("ohlcv", "o", True),
        ("ohlcv", "v", None),
        ("ohlcv", "timestamp", 1.5),
        ("iot", "sid", 12),
        ("spatial", "hdg", 400),
        ("event", "sev", 9),
        ("event", "cnt", -2),
        ("event", "sev", 1.0),
        ("vitals", "hr", "72"),
    ],
)
def test_push_type_errors(client: httpx.Client, data_type: str, field: str, value: Any) -> None:
    with session(client, data_type) as sid:
        batch = records(data_type, 2)
        batch[1][field] = value
        assert_error(
            client.post(f"/v1/sessions/{sid}/stream/push", json={"data": batch}), 422, f"data[1].{field}"
        )


def test_push_nan_and_malformed_bodies(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/stream/push"
    raw = json.dumps({"data": [dict(RECORD_EXAMPLES["ohlcv"](0), h=float("nan"))]})  # writes NaN
    assert_error(client.post(url, content=raw, headers=JSON), 422, "data[0].h")
    raw = json.dumps({"data": [dict(RECORD_EXAMPLES["ohlcv"](0), l=float("-inf"))]})
    assert_error(client.post(url, content=raw, headers=JSON), 422, "data[0].l")
    assert_error(client.post(url, content=b'{"data": [1,', headers=JSON), 400)
    assert_error(client.post(url, content=b"\xff\xfe\x00", headers=JSON), 400)
    assert_error(client.post(url, json={}), 422, "data")
    assert_error(client.post(url, json={"data": {"o": 1}}), 422, "data")
    assert_error(client.post(url, json={"data": [5]}), 422, "data[0]")
    assert_error(client.post(url, json=[1, 2]), 422)


def test_empty_push_is_fine(client: httpx.Client, session_id: str) -> None:
    response = client.post(f"/v1/sessions/{session_id}/stream/push", json={"data": []})
    assert response.status_code == 200 and response.json()["pushed"] == 0


def test_body_over_the_limit_is_413(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/stream/push"
    big = json.dumps({"data": records("ohlcv", 1), "pad": "x" * (MAX_BODY_BYTES + 1024)}).encode()
    assert_error(client.post(url, content=big, headers=JSON), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    assert_error(client.post(url, content=chunks(), headers=JSON), 413)
    assert _status(client, session_id)["statistics"]["total_enqueued"] == 0
    # Just under the limit is accepted.
    ok = json.dumps({"data": records("ohlcv", 1), "pad": "x" * (MAX_BODY_BYTES - 2048)}).encode()
    assert client.post(url, content=ok, headers=JSON).status_code == 200


def _stats(client: httpx.Client, data_type: str, n: int) -> dict[str, Any]:
    with session(client, data_type) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records(data_type, n)})
        _wait_count(client, sid, n)
        response = client.get(f"/v1/sessions/{sid}/stats")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def test_stats_ohlcv(client: httpx.Client) -> None:
    stats = _stats(client, "ohlcv", 5)
    assert stats["type"] == "ohlcv" and stats["count"] == 5
    assert stats["max_high"] == pytest.approx(105.5) and stats["max_high_index"] == 4
    assert stats["min_low"] == pytest.approx(99.25) and stats["min_low_index"] == 0
    assert stats["max_volume"] == pytest.approx(1240.0)
    assert stats["first_open"] == pytest.approx(100.0) and stats["last_close"] == pytest.approx(104.75)
    assert stats["avg_close"] == pytest.approx(102.75)


def test_stats_iot(client: httpx.Client) -> None:
    stats = _stats(client, "iot", 6)  # val 20.5 .. 25.5 against hi 25: one breach
    assert stats["type"] == "iot" and stats["count"] == 6
    assert stats["last_sensor"] == "t2"
    assert stats["last_value"] == pytest.approx(25.5)
    assert stats["min_value"] == pytest.approx(20.5) and stats["max_value"] == pytest.approx(25.5)
    assert stats["threshold_breaches"] == 1


def test_stats_spatial(client: httpx.Client) -> None:
    stats = _stats(client, "spatial", 3)
    assert stats["type"] == "spatial" and stats["count"] == 3
    assert stats["current_position"] == {"x": 2.0, "y": 4.0, "z": 0.0}
    assert stats["current_speed"] == pytest.approx(3.5) and stats["current_heading"] == pytest.approx(90.0)
    assert stats["total_distance"] > 0


def test_stats_event(client: httpx.Client) -> None:
    stats = _stats(client, "event", 5)  # sev 0..4, two sources, two categories
    assert stats["type"] == "event" and stats["count"] == 5
    assert stats["total_event_count"] == 0 + 1 + 2 + 3 + 4
    assert stats["max_severity"] == 4
    assert stats["unique_sources"] == 2 and stats["unique_categories"] == 2
    assert stats["top_category"] in ("auth", "net")


def test_stats_vitals(client: httpx.Client) -> None:
    stats = _stats(client, "vitals", 3)  # hr 70, 90, 110
    assert stats["type"] == "vitals" and stats["count"] == 3
    current = stats["current"]
    assert current["hr"] == pytest.approx(110.0) and current["bp"] == "120/80"
    assert stats["avg_heart_rate"] == pytest.approx(90.0)
    assert stats["alerts"]["tachycardia_episodes"] >= 1
    assert set(stats["alerts"]) == {
        "tachycardia_episodes",
        "bradycardia_episodes",
        "hypoxia_episodes",
        "fever_episodes",
    }
