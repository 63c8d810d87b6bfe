"""The product pages' walkthroughs ("Streaming Data", "Flash Queries"), end to end.

Each test follows one page example in order, as a client would: create a
session with standing queries, stream records in, watch events, read the
answers, ask a question that hits the flash cache, and clean up.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from api_server import RunningServer, records, sse_events, wait_answered
from polling import WAIT_S
from websockets.sync.client import connect


def _json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_market_monitor_over_rest_and_sse(client: httpx.Client) -> None:
    # 1. Create a session for candles with two standing questions.
    session = _json(
        client.post(
            "/v1/sessions/init",
            json={
                "type": "ohlcv",
                "prompt": "You are a market analyst watching BTC-USD one-minute candles.",
                "flash": [
                    {"query": "Is the trend bullish or bearish?", "max_tokens": 4},
                    {"query": "What was the last close?", "max_tokens": 6},
                ],
            },
        )
    )
    sid = session["session_id"]
    base = f"/v1/sessions/{sid}"
    try:
        assert session["flash_queries"] == 2
        # 2. Open the event stream, then push candles.
        with client.stream("GET", f"{base}/events") as events:
            frames = sse_events(events.iter_lines())
            assert next(frames)[0] == "connected"
            pushed = _json(client.post(f"{base}/stream/push", json={"data": records("ohlcv", 5)}))
            assert pushed["pushed"] == 5
            # 3. Answers arrive as flash_ready events.
            answered: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + WAIT_S
            for name, data, _ in frames:
                if name == "flash_ready" and data is not None:
                    answered[data["query"]] = data
                if len(answered) == 2:
                    break
                assert time.monotonic() < deadline, answered
        # 4. Stream status shows the records processed.
        status = _json(client.get(f"{base}/stream/status"))
        assert status["statistics"]["total_enqueued"] == 5
        # 5. The flash list holds the answers.
        listing = _json(client.get(f"{base}/flash"))
        assert {q["query"] for q in listing["flash_queries"]} == set(answered)
        # 6. Asking a registered question is answered from the cache.
        question = "Is the trend bullish or bearish?"
        fresh = wait_answered(client, sid, question)
        cached = _json(client.post(f"{base}/generate", json={"prompt": question}))
        assert cached["from_cache"] is True and cached["text"] == fresh["value"]
        # 7. Window statistics.
        stats = _json(client.get(f"{base}/stats"))
        assert stats["count"] == 5 and stats["last_close"] > stats["first_open"]
        # 8. Remove a query, then the session.
        qid = next(q["id"] for q in listing["flash_queries"] if q["query"] == "What was the last close?")
        assert _json(client.delete(f"{base}/flash/{qid}")) == {"success": True, "remaining": 1}
    finally:
        assert _json(client.delete(base)) == {"success": True}


def test_sensor_feed_over_websocket(api_server: RunningServer, client: httpx.Client) -> None:
    session = _json(
        client.post(
            "/v1/sessions/init",
            json={"type": "iot", "flash": [{"query": "Is any sensor out of range?", "max_tokens": 4}]},
        )
    )
    sid = session["session_id"]
    try:
        with connect(f"{api_server.ws_base}/v1/sessions/{sid}/ws") as ws:
            hello = json.loads(ws.recv(timeout=WAIT_S))
            assert hello["type"] == "connected" and hello["data"]["session_id"] == sid
            for batch in range(2):
                ws.send(json.dumps({"type": "push", "data": records("iot", 3, start=3 * batch)}))
            acks, kinds = 0, set[str]()
            deadline = time.monotonic() + WAIT_S
            while acks < 2 or not {"data_updated", "flash_ready"} <= kinds:
                frame = json.loads(ws.recv(timeout=WAIT_S))
                kinds.add(frame["type"])
                if frame["type"] == "push_ack":
                    acks += 1
                    assert frame["data"]["pushed"] == 3
                assert time.monotonic() < deadline, kinds
            ws.send(json.dumps({"type": "ping"}))
            while json.loads(ws.recv(timeout=WAIT_S))["type"] != "pong":
                pass
            ws.send(json.dumps({"type": "close"}))
        assert _json(client.get(f"/v1/sessions/{sid}/stream/status"))["statistics"]["total_enqueued"] == 6
    finally:
        client.delete(f"/v1/sessions/{sid}")


def test_patient_vitals_with_a_query_added_later(client: httpx.Client) -> None:
    sid = _json(client.post("/v1/sessions/init", json={"type": "vitals", "prompt": "ICU bed 7."}))[
        "session_id"
    ]
    base = f"/v1/sessions/{sid}"
    try:
        _json(client.post(f"{base}/stream/push", json={"data": records("vitals", 3)}))
        query = "Is the patient stable?"
        registered = _json(client.post(f"{base}/flash", json={"query": query, "max_tokens": 3}))
        assert registered["status"] == "registered"
        _json(client.post(f"{base}/stream/push", json={"data": records("vitals", 1, start=3)}))
        answer = wait_answered(client, sid, query)
        assert answer["has_answer"] is True
        live = _json(
            client.post(f"{base}/generate", json={"prompt": "What is the heart rate trend?", "max_tokens": 5})
        )
        assert live["from_cache"] is False and live["n_tokens"] >= 1
        stats = _json(client.get(f"{base}/stats"))
        assert stats["count"] == 4 and stats["current"]["bp"] == "120/80"
    finally:
        client.delete(base)
