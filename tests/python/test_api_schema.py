"""Every response field has exactly the JSON type docs/api.md gives it (int vs float vs bool vs str).

Clients validate strictly: an int sent as ``12.0`` or a float sent as ``0``
breaks them, so ``type(x) is int`` / ``type(x) is float`` is checked, and the
key sets are exact.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from api_server import JSON, RunningServer, assert_error, records, session, sse_events, wait_answered
from engine_helpers import LATENCY_STAGES
from polling import WAIT_S
from websockets.sync.client import connect

Spec = Any
NULLABLE_FLOAT = (float, None)
NULLABLE_INT = (int, None)

INIT = {
    "session_id": str,
    "type": str,
    "n_tokens": int,
    "context_size": int,
    "window_size": int,
    "flash_queries": int,
    "pos_max": int,
}
REGION = {"start": int, "end": int, "window_size": int}
SUMMARY = {
    "session_id": str,
    "n_tokens": int,
    "context_size": int,
    "prefix_end": int,
    "last_inject_us": int,
    "cache_usage": float,
    "created_at": int,
    "last_used_at": int,
    "in_use": bool,
    "idle_s": float,
    "expires_in_s": NULLABLE_FLOAT,
    "kv_bytes": int,
}
LIST = {"sessions": [SUMMARY], "count": int, "max_sessions": int}
# A session's state: its listing entry and where its data and text stand.
STATE = {
    **SUMMARY,
    "type": str,
    "pos_min": int,
    "pos_max": int,
    "pos_next": int,
    "data_region": REGION,
    "data_count": int,
    "context_text": str,
}
SLOTS = {
    "slots": [{"name": str, "start": int, "end": int, "n_tokens": int}],
    "prefix_end": int,
    "data_region": REGION,
    "pos_next": int,
    "total_tokens": int,
}
APPEND = {"n_tokens_added": int, "total_tokens": int, "pos_max": int}
MARK_PREFIX = {"prefix_end": int, "message": str}
PUSH = dict.fromkeys(
    ("pushed", "dropped", "queue_size", "queue_capacity", "total_enqueued", "total_dropped"), int
)
STATUS = {
    "type": str,
    "streaming": {
        "initialized": bool,
        "running": bool,
        "error": bool,
        "queue_size": int,
        "queue_capacity": int,
        "window_size": int,
        "process_interval_us": int,
    },
    "statistics": {
        "total_enqueued": int,
        "total_dropped": int,
        "skipped": int,
        "batches_processed": int,
        "items_processed": int,
        "total_process_time_us": int,
        "avg_process_time_us": float,
    },
    "data": {"initialized": bool, "data_count": int, "total_data_tokens": int, "pos_next": int},
}
STATS: dict[str, Spec] = {
    "ohlcv": {
        "type": str,
        "count": int,
        "max_high": float,
        "max_high_index": int,
        "min_low": float,
        "min_low_index": int,
        "max_volume": float,
        "first_open": float,
        "last_close": float,
        "avg_close": float,
        "change": float,
        "change_pct": float,
    },
    "iot": {
        "type": str,
        "count": int,
        "last_sensor": str,
        "last_value": float,
        "min_value": float,
        "max_value": float,
        "avg_value": float,
        "threshold_breaches": int,
        "breach_rate": float,
    },
    "spatial": {
        "type": str,
        "count": int,
        "current_position": {"x": float, "y": float, "z": float},
        "current_speed": float,
        "current_heading": float,
        "total_distance": float,
        "max_speed": float,
        "avg_speed": float,
        "max_turn_rate": float,
    },
    "event": {
        "type": str,
        "count": int,
        "total_event_count": int,
        "max_severity": int,
        "critical_events": int,
        "unique_sources": int,
        "unique_categories": int,
        "top_category": str,
        "top_category_count": int,
    },
    "vitals": {
        "type": str,
        "count": int,
        "current": {"hr": float, "bp": str, "spo2": float, "temp": float, "map": float},
        "avg_heart_rate": float,
        "avg_map": float,
        "min_spo2": float,
        "max_temp": float,
        "alerts": {
            "tachycardia_episodes": int,
            "bradycardia_episodes": int,
            "hypoxia_episodes": int,
            "fever_episodes": int,
        },
    },
}
STAGE = {"count": int, "mean_ms": float, "p50_ms": float, "p95_ms": float, "p99_ms": float}
LATENCY = dict.fromkeys(LATENCY_STAGES, STAGE)
for _shape in STATS.values():
    _shape["latency"] = LATENCY
REGISTER = {
    "id": int,
    "query": str,
    "max_tokens": int,
    "n_tokens": int,
    "total_flash_queries": int,
    "status": str,
}
Q = {
    "id": int,
    "query": str,
    "max_tokens": int,
    "n_tokens": int,
    "has_answer": bool,
    "value": str,
    "data_version": int,
    "confidence": float,
    "evaluated_at": int,
    "last_evaluated_ms": int,
}
FLASH_LIST = {"flash_queries": [Q], "queries": [Q], "count": int, "current_data_version": int}
FLASH_DELETE = {"success": bool, "remaining": int}
GENERATE = {
    "text": str,
    "n_tokens": int,
    "tokens_generated": int,
    "total_tokens": int,
    "pos_max": int,
    "from_cache": bool,
    "confidence": float,
    "flash": bool,
    "flash_id": NULLABLE_INT,
    "data_version": int,
    "logit_gap": NULLABLE_FLOAT,
}
TOKEN_FRAME = {"done": bool, "token": str, "pos": int}
DONE_FRAME = {"done": bool, "text": str, "n_tokens": int}
CONNECTED_SSE = {"type": str, "data_version": int, "flash_queries": int}
# A pushed answer: the fields the flash listing gives it (Q), with the same types.
ANSWER_KEYS = ("id", "query", "value", "confidence", "data_version", "evaluated_at")
FLASH_READY = {"type": str, **{key: Q[key] for key in ANSWER_KEYS}}
DATA_UPDATED = {"type": str, "data_version": int, "data_count": int, "pos_next": int}
WS_CONNECTED = {"session_id": str, "data_version": int, "streaming": bool, "flash_queries": int}
WS_ACK = {"pushed": int, "dropped": int, "queue_size": int}
WS_ERROR = {"message": str, "code": int}
HEALTH = {"status": str, "model": str}
MODELS = {"object": str, "data": [{"id": str, "object": str, "created": int, "owned_by": str}]}
ERROR = {"error": {"message": str, "type": str, "code": (str, int, None), "param": (str, None)}}


def check(value: Any, spec: Spec, path: str = "$") -> None:
    """``value`` matches ``spec`` exactly: dict = exact keys, [spec] = list of, tuple = one of."""
    if isinstance(spec, dict):
        assert type(value) is dict, f"{path}: expected an object, got {value!r}"
        assert set(value) == set(spec), f"{path}: keys {sorted(value)} != {sorted(spec)}"
        for key, sub in spec.items():
            check(value[key], sub, f"{path}.{key}")
    elif isinstance(spec, list):
        assert type(value) is list, f"{path}: expected an array, got {value!r}"
        for i, item in enumerate(value):
            check(item, spec[0], f"{path}[{i}]")
    elif isinstance(spec, tuple):
        kinds = [type(None) if s is None else s for s in spec]
        assert type(value) in kinds, f"{path}: {value!r} is not one of {kinds}"
    else:
        assert type(value) is spec, f"{path}: {value!r} is {type(value).__name__}, not {spec.__name__}"


def ok(response: httpx.Response, spec: Spec) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    check(body, spec)
    return body


def test_checker_is_strict() -> None:
    check({"a": 1, "b": 1.5}, {"a": int, "b": float})
    for bad in (
        {"a": 1.0, "b": 1.5},
        {"a": 1, "b": 1},
        {"a": True, "b": 1.5},
        {"a": 1},
        {"a": 1, "b": 1.5, "c": 0},
    ):
        with pytest.raises(AssertionError):
            check(bad, {"a": int, "b": float})


@pytest.mark.parametrize("data_type", sorted(STATS))
def test_session_routes_types(client: httpx.Client, data_type: str) -> None:
    query = "What is the latest value?"
    body = ok(
        client.post(
            "/v1/sessions/init",
            json={
                "type": data_type,
                "prompt": "Watch this feed.",
                "flash": [{"query": query, "max_tokens": 2}],
            },
        ),
        INIT,
    )
    sid = body["session_id"]
    try:
        base = f"/v1/sessions/{sid}"
        ok(client.get(f"{base}/stats"), STATS[data_type])  # an empty window too
        ok(client.post(f"{base}/stream/push", json={"data": records(data_type, 4)}), PUSH)
        item = wait_answered(client, sid, query)
        check(item, Q)
        ok(client.get("/v1/sessions"), LIST)
        ok(client.get(f"{base}/state"), STATE)
        ok(client.get(base), STATE)
        ok(client.get(f"{base}/slots"), SLOTS)
        ok(client.get(f"{base}/stream/status"), STATUS)
        ok(client.get(f"{base}/stats"), STATS[data_type])
        ok(client.get(f"{base}/flash"), FLASH_LIST)
        registered = ok(
            client.post(f"{base}/flash", json={"query": "Anything odd?", "max_tokens": 2}), REGISTER
        )
        ok(client.delete(f"{base}/flash/{registered['id']}"), FLASH_DELETE)
        hit = ok(client.post(f"{base}/generate", json={"prompt": query}), GENERATE)
        assert hit["from_cache"] is True and type(hit["flash_id"]) is int
        live = ok(client.post(f"{base}/generate", json={"prompt": "And now?", "max_tokens": 2}), GENERATE)
        assert live["from_cache"] is False and live["flash_id"] is None
        ok(client.post(f"{base}/append", json={"text": "Operator note.\n"}), APPEND)
        ok(client.post(f"{base}/mark_prefix", json={}), MARK_PREFIX)
    finally:
        ok(client.delete(f"/v1/sessions/{sid}"), {"success": bool})


def test_service_and_error_types(client: httpx.Client) -> None:
    ok(client.get("/v1/health"), HEALTH)
    ok(client.get("/v1/models"), MODELS)
    for response in (
        client.get("/v1/sessions/sess_000000000000000000000000/state"),
        client.post("/v1/sessions/init", json={"type": "nope"}),
        client.post("/v1/sessions/init", content=b"{", headers=JSON),
        client.get("/v1/nowhere"),
    ):
        check(response.json(), ERROR)
        assert_error(response, response.status_code)


def test_streamed_frame_types(api_server: RunningServer, client: httpx.Client) -> None:
    query = "Is it rising?"
    with session(client, "ohlcv", flash=[{"query": query, "max_tokens": 2}]) as sid:
        base = f"/v1/sessions/{sid}"
        with client.stream("GET", f"{base}/events") as response:
            frames = sse_events(response.iter_lines())
            name, data, _ = next(frames)
            assert name == "connected"
            check(data, CONNECTED_SSE)
            client.post(f"{base}/stream/push", json={"data": records("ohlcv", 2)})
            seen: set[str] = set()
            deadline = time.monotonic() + WAIT_S
            for name, data, _ in frames:
                if name == "flash_ready":
                    check(data, FLASH_READY)
                elif name == "data_updated":
                    check(data, DATA_UPDATED)
                if name:
                    seen.add(name)
                if {"flash_ready", "data_updated"} <= seen:
                    break
                assert time.monotonic() < deadline, seen

        with client.stream(
            "POST", f"{base}/generate", json={"prompt": "Go on.", "max_tokens": 3, "stream": True}
        ) as r:
            stream = [data for _, data, _ in sse_events(r.iter_lines()) if data is not None]
        for frame in stream[:-1]:
            check(frame, TOKEN_FRAME)
        check(stream[-1], DONE_FRAME)

        with connect(f"{api_server.ws_base}{base}/ws") as ws:
            first = json.loads(ws.recv(timeout=WAIT_S))
            check(first, {"type": str, "data": WS_CONNECTED})
            ws.send(json.dumps({"type": "push", "data": records("ohlcv", 1, start=5)}))
            ws.send(json.dumps({"type": "ping"}))
            ws.send(json.dumps({"type": "push", "data": [{"o": 1}]}))
            want = {"push_ack": WS_ACK, "pong": {}, "error": WS_ERROR, "flash_ready": FLASH_READY}
            want["data_updated"] = DATA_UPDATED
            got: set[str] = set()
            deadline = time.monotonic() + WAIT_S
            while not {"push_ack", "pong", "error"} <= got:
                frame = json.loads(ws.recv(timeout=WAIT_S))
                check(frame, {"type": str, "data": want[frame["type"]]})
                got.add(frame["type"])
                assert time.monotonic() < deadline, got
