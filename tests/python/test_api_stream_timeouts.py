"""Streamed answers get keep-alives and a silence timeout; WebSockets say why they close at shutdown."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import RunningServer, records, serving, session, sse_events
from polling import WAIT_S
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

GENERATE_TIMEOUT_S = 2.0
PING_S = 0.4
LONG_QUESTION = "Write every number from 1 to 400, separated by commas."
BLOCKERS = 3  # long answers queued ahead of the one watched, so that it waits in silence


@pytest.fixture(scope="module")
def short_timeout_server(model_path: Path) -> Iterator[RunningServer]:
    with serving(
        model_path, "--generate-timeout", str(GENERATE_TIMEOUT_S), "--sse-ping-interval", str(PING_S)
    ) as server:
        yield server


@pytest.mark.parametrize("route", ["generate", "chat"])
def test_a_stream_waiting_behind_others_pings_then_times_out(
    short_timeout_server: RunningServer, route: str
) -> None:
    with (
        short_timeout_server.client() as client,
        session(client, "ohlcv") as busy,
        session(client, "ohlcv") as sid,
        contextlib.ExitStack() as blockers,
    ):
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 3)})
        for _ in range(BLOCKERS):  # opened, never read: they hold the decode thread
            body = {"prompt": LONG_QUESTION, "max_tokens": 256, "stream": True}
            blockers.enter_context(client.stream("POST", f"/v1/sessions/{busy}/generate", json=body))
        if route == "generate":
            request = ("POST", f"/v1/sessions/{sid}/generate", {"prompt": "Last close?", "stream": True})
        else:
            messages = [{"role": "user", "content": "Last close?"}]
            request = ("POST", "/v1/chat/completions", {"model": sid, "messages": messages, "stream": True})
        method, path, body = request
        pings, last = 0, None
        with client.stream(method, path, json=body) as response:
            assert response.status_code == 200
            for name, data, raw in sse_events(response.iter_lines()):
                if raw == ": ping":
                    pings += 1
                    continue
                last = (name, data)
        assert pings >= 1
        assert last is not None
        name, data = last
        assert data is not None and data["error"]["code"] == "timeout", last
        if route == "generate":
            assert name == "error"


def test_websocket_close_reason_on_shutdown(model_path: Path) -> None:
    with serving(model_path) as server:
        with server.client() as client:
            sid = client.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"]
        with connect(f"{server.ws_base}/v1/sessions/{sid}/ws", open_timeout=WAIT_S) as ws:
            assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "connected"
            server.process.terminate()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=WAIT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert closed.value.rcvd.reason == "server stopping"
        server.process.wait(timeout=WAIT_S)


def test_no_timeout_frame_when_tokens_flow(short_timeout_server: RunningServer) -> None:
    """The timeout is about silence, not length: a steady answer ends with its done frame."""
    with short_timeout_server.client() as client, session(client, "ohlcv") as sid:
        body = {"prompt": "Last close?", "max_tokens": 8, "stream": True}
        with client.stream("POST", f"/v1/sessions/{sid}/generate", json=body) as response:
            frames = [data for _, data, _ in sse_events(response.iter_lines()) if data is not None]
        assert frames and frames[-1].get("done") is True, frames[-1:]
