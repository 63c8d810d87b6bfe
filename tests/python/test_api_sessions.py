"""Session routes against a real server: init, list, state, slots, append, mark_prefix, delete."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from api_server import CTX_SIZE, JSON, assert_error, create_session, records, session

SESSION_ID = re.compile(r"^sess_[0-9a-f]{24,}$")


def test_init_returns_the_session_and_its_prefix(client: httpx.Client) -> None:
    body = create_session(
        client,
        "ohlcv",
        prompt="You watch BTC candles.",
        flash=[{"query": "Is the trend up?", "max_tokens": 4}, {"query": "Last close?"}],
    )
    try:
        assert SESSION_ID.match(body["session_id"])
        assert body["type"] == "ohlcv"
        assert body["n_tokens"] > 0
        assert 0 < body["context_size"] <= CTX_SIZE
        assert body["window_size"] > 0
        assert body["flash_queries"] == 2
        assert body["pos_max"] == body["n_tokens"] - 1
    finally:
        client.delete(f"/v1/sessions/{body['session_id']}")


def test_init_honours_sizes(client: httpx.Client) -> None:
    body = create_session(client, "iot", context_size=512, window_size=8)
    try:
        assert body["context_size"] == 512
        assert body["window_size"] == 8
    finally:
        client.delete(f"/v1/sessions/{body['session_id']}")


def test_session_ids_are_unique(client: httpx.Client) -> None:
    with session(client, "event") as first, session(client, "event") as second:
        assert first != second


def test_list_state_and_slots(client: httpx.Client) -> None:
    with session(client, "vitals", prompt="ICU bed 4.") as sid:
        listing = client.get("/v1/sessions").json()
        assert listing["count"] == len(listing["sessions"]) >= 1
        assert listing["max_sessions"] == 12
        item = next(s for s in listing["sessions"] if s["session_id"] == sid)
        assert item["n_tokens"] > 0 and item["prefix_end"] > 0
        assert 0.0 <= item["cache_usage"] <= 1.0
        assert item["created_at"] <= item["last_used_at"]

        state = client.get(f"/v1/sessions/{sid}/state").json()
        assert state["session_id"] == sid and state["type"] == "vitals"
        assert "ICU bed 4." in state["context_text"]
        assert state["pos_min"] == 0 and state["pos_max"] == state["n_tokens"] - 1
        assert state["pos_next"] == state["n_tokens"]
        region = state["data_region"]
        assert set(region) == {"start", "end", "window_size"}
        assert state["prefix_end"] <= region["start"] <= region["end"]
        assert state["data_count"] == 0
        assert state["in_use"] is False  # reads do not count as work in progress

        same = client.get(f"/v1/sessions/{sid}").json()  # GET /v1/sessions/{id} is .../state
        assert same["session_id"] == sid and set(same) == set(state)

        slots = client.get(f"/v1/sessions/{sid}/slots").json()
        assert slots["slots"] and all(set(s) == {"name", "start", "end", "n_tokens"} for s in slots["slots"])
        assert slots["prefix_end"] == state["prefix_end"]
        assert slots["pos_next"] == state["pos_next"]
        assert slots["total_tokens"] == state["n_tokens"]
        assert slots["slots"][0]["start"] == 0
        for before, after in zip(slots["slots"], slots["slots"][1:], strict=False):
            assert after["start"] == before["end"]  # contiguous
        for slot in slots["slots"]:
            assert slot["n_tokens"] == slot["end"] - slot["start"]


def test_append_and_mark_prefix(client: httpx.Client) -> None:
    with session(client, "ohlcv") as sid:
        before = client.get(f"/v1/sessions/{sid}/state").json()
        appended = client.post(
            f"/v1/sessions/{sid}/append", json={"text": "Note: the exchange halted at noon.\n"}
        )
        assert appended.status_code == 200, appended.text
        added = appended.json()
        assert added["n_tokens_added"] > 0
        assert added["total_tokens"] == before["n_tokens"] + added["n_tokens_added"]
        assert added["pos_max"] == added["total_tokens"] - 1
        state = client.get(f"/v1/sessions/{sid}/state").json()
        assert "exchange halted" in state["context_text"]

        marked = client.post(f"/v1/sessions/{sid}/mark_prefix", json={})
        assert marked.status_code == 200, marked.text
        assert marked.json()["prefix_end"] == added["total_tokens"]
        assert isinstance(marked.json()["message"], str)
        # An empty body is accepted too.
        assert client.post(f"/v1/sessions/{sid}/mark_prefix").status_code == 200
        assert client.get(f"/v1/sessions/{sid}/state").json()["prefix_end"] == added["total_tokens"]


def test_delete_frees_the_session(client: httpx.Client) -> None:
    sid = create_session(client, "spatial")["session_id"]
    deleted = client.delete(f"/v1/sessions/{sid}")
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert all(s["session_id"] != sid for s in client.get("/v1/sessions").json()["sessions"])
    assert_error(client.delete(f"/v1/sessions/{sid}"), 404)
    assert_error(client.get(f"/v1/sessions/{sid}/state"), 404)


def test_unknown_session_is_404_on_every_route(client: httpx.Client) -> None:
    sid = "sess_" + "0" * 24
    for method, path, body in [
        ("GET", "state", None),
        ("GET", "slots", None),
        ("GET", "stats", None),
        ("GET", "flash", None),
        ("GET", "stream/status", None),
        ("GET", "events", None),
        ("POST", "append", {"text": "x"}),
        ("POST", "mark_prefix", {}),
        ("POST", "stream/push", {"data": records("ohlcv", 1)}),
        ("POST", "flash", {"query": "q"}),
        ("POST", "generate", {"prompt": "q"}),
        ("DELETE", "flash/1", None),
    ]:
        response = client.request(method, f"/v1/sessions/{sid}/{path}", json=body)
        assert_error(response, 404)
    assert_error(client.delete(f"/v1/sessions/{sid}"), 404)


def test_init_validation_errors(client: httpx.Client) -> None:
    cases: list[tuple[object, int, str | None]] = [
        ({}, 422, "type"),
        ({"type": "stocks"}, 422, "type"),
        ({"type": 3}, 422, "type"),
        ({"type": "ohlcv", "prompt": 5}, 422, "prompt"),
        ({"type": "ohlcv", "context_size": 512.0}, 422, "context_size"),
        ({"type": "ohlcv", "context_size": True}, 422, "context_size"),
        ({"type": "ohlcv", "context_size": -1}, 422, "context_size"),
        ({"type": "ohlcv", "context_size": 10**30}, 422, "context_size"),
        ({"type": "ohlcv", "window_size": "8"}, 422, "window_size"),
        ({"type": "ohlcv", "flash": [{"max_tokens": 3}]}, 422, "flash[0].query"),
        ({"type": "ohlcv", "flash": "q"}, 422, "flash"),
        ({"type": "ohlcv", "flash": [{"query": "a"}, {"query": " a "}]}, 409, "flash[1].query"),
        # Unicode whitespace folds like ASCII whitespace, here as through POST /flash.
        ({"type": "ohlcv", "flash": ["a b", "a\u00a0b"]}, 409, "flash[1].query"),
        ({"type": "ohlcv", "flash": ["ok?", {"query": " \t"}]}, 422, "flash[1].query"),
        ({"type": "ohlcv", "context_size": 100}, 422, "context_size"),
        ({"type": "ohlcv", "window_size": -2}, 422, "window_size"),
        ({"type": "ohlcv", "flash": [{"query": f"q{i}"} for i in range(21)]}, 429, "flash"),
        ([{"type": "ohlcv"}], 422, None),
    ]
    for body, status, param in cases:
        assert_error(client.post("/v1/sessions/init", json=body), status, param)
    assert_error(client.post("/v1/sessions/init", content=b"{not json", headers=JSON), 400)
    assert_error(client.post("/v1/sessions/init", content=b"", headers=JSON), 400)


def test_init_with_bad_sizes_or_a_huge_prompt(client: httpx.Client) -> None:
    # Sizes the core refuses are 422 (a context larger than the engine's), never 500.
    too_big = client.post("/v1/sessions/init", json={"type": "ohlcv", "context_size": CTX_SIZE * 64})
    assert too_big.status_code in (200, 422), too_big.text
    if too_big.status_code == 200:
        client.delete(f"/v1/sessions/{too_big.json()['session_id']}")
    prompt = "The market is open. " * 1000  # far more tokens than the context holds
    response = client.post("/v1/sessions/init", json={"type": "ohlcv", "prompt": prompt})
    # The core reports this one as a size problem (ValueError -> 422); either way both sizes are named.
    error = assert_error(response, 400 if response.status_code == 400 else 422)
    assert str(CTX_SIZE) in error["message"], error
    assert any(int(n) > CTX_SIZE for n in re.findall(r"\d+", error["message"])), error


def test_append_errors(client: httpx.Client) -> None:
    with session(client, "iot") as sid:
        assert_error(client.post(f"/v1/sessions/{sid}/append", json={}), 422, "text")
        assert_error(client.post(f"/v1/sessions/{sid}/append", json={"text": 1}), 422, "text")
        too_long = client.post(f"/v1/sessions/{sid}/append", json={"text": "sensor reading. " * 2000})
        error = assert_error(too_long, 400)
        assert re.search(r"\d+.*\d+", error["message"]), error


def test_in_use_and_last_used_at_move(client: httpx.Client) -> None:
    with session(client, "event") as sid:

        def listed() -> dict[str, Any]:
            sessions = client.get("/v1/sessions").json()["sessions"]
            return dict(next(s for s in sessions if s["session_id"] == sid))

        first = listed()
        assert first["in_use"] is False  # listing does not use a session
        time.sleep(0.01)
        client.get(f"/v1/sessions/{sid}/state")
        assert listed()["last_used_at"] > first["last_used_at"]
