"""A session's decode failures reach its SSE and WebSocket subscribers, and its counts reconcile."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from api_server import RunningServer, records, session, sse_events
from polling import WAIT_S, wait_for
from websockets.sync.client import ClientConnection, connect

SMALL_CONTEXT = 512
BURST = 40  # far more records than a 512-token context's window holds


def _settled(client: httpx.Client, sid: str) -> dict[str, Any]:
    """The stream status once every accepted record is decoded or skipped."""

    def done() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/v1/sessions/{sid}/stream/status").json()
        return status if status["streaming"]["queue_size"] == 0 else None

    return wait_for(done, what="an empty queue")


def test_status_reconciles_with_skipped(client: httpx.Client) -> None:
    with session(client, "ohlcv", context_size=SMALL_CONTEXT) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", BURST)})
        status = _settled(client, sid)
        stats = status["statistics"]
        assert stats["skipped"] > 0  # the burst is larger than the window: the oldest never decode
        assert stats["total_enqueued"] == BURST
        queued = status["streaming"]["queue_size"]
        assert stats["total_enqueued"] == stats["items_processed"] + stats["skipped"] + queued


def _sse_until(frames: Iterator[tuple[str | None, dict[str, Any] | None, str]], event: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    for name, data, _ in frames:
        if name == event and data is not None:
            return data
        assert time.monotonic() < deadline, f"no {event} event within {WAIT_S:g} s"
    raise AssertionError(f"the stream ended before an {event} event")


def _ws_until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] == kind:
            data: dict[str, Any] = frame["data"]
            return data


def test_decode_error_reaches_sse_and_websocket(api_server: RunningServer) -> None:
    """A flash question that fits the prefix's budget but not after a full window makes the
    flash run's llama_decode fail: the session's subscribers get an ``error`` event."""
    with api_server.client() as client, session(client, "ohlcv", context_size=SMALL_CONTEXT) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", BURST)})
        _settled(client, sid)
        long_question = "Is " + "the close price above the open price and " * 35 + "?"
        with (
            client.stream("GET", f"/v1/sessions/{sid}/events") as response,
            connect(f"{api_server.ws_base}/v1/sessions/{sid}/ws", open_timeout=WAIT_S) as ws,
        ):
            frames = sse_events(response.iter_lines())
            assert next(frames)[0] == "connected"
            assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "connected"
            flash = {"query": long_question, "max_tokens": 1}
            registered = client.post(f"/v1/sessions/{sid}/flash", json=flash)
            assert registered.status_code == 200, registered.text
            over_sse = _sse_until(frames, "error")
            over_ws = _ws_until(ws, "error")
        for data in (over_sse, over_ws):
            assert data["type"] == "error"
            assert isinstance(data["message"], str) and "llama_decode" in data["message"]
        status = client.get(f"/v1/sessions/{sid}/stream/status").json()
        assert status["streaming"]["error"] is True
