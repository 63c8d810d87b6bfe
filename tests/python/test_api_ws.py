"""WebSocket /ws: connected, push/push_ack, ping/pong, events, error frames, close and the frame cap."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from api_server import MAX_BODY_BYTES, RunningServer, records, session, subscribers
from polling import WAIT_S, wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect


def ws_connect(server: RunningServer, sid: str, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("open_timeout", WAIT_S)
    kwargs.setdefault("max_size", None)
    conn: ClientConnection = connect(f"{server.ws_base}/v1/sessions/{sid}/ws", **kwargs)
    return conn


def recv(ws: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    assert set(frame) == {"type", "data"} and isinstance(frame["type"], str), frame
    assert isinstance(frame["data"], dict), frame
    return frame


def recv_until(ws: ClientConnection, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """The data of the next frame of ``kind``, skipping others (events may interleave)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = recv(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == kind:
            data: dict[str, Any] = frame["data"]
            return data
        assert time.monotonic() < deadline, f"no {kind} frame within {timeout:g} s"


def test_connect_push_events_ping_close(api_server: RunningServer) -> None:
    query = "Is the close above the open?"
    with (
        api_server.client() as client,
        session(client, "ohlcv", flash=[{"query": query, "max_tokens": 3}]) as sid,
    ):
        with ws_connect(api_server, sid) as ws:
            connected = recv(ws)
            assert connected["type"] == "connected"
            data = connected["data"]
            assert set(data) == {"session_id", "data_version", "streaming", "flash_queries"}
            assert data["session_id"] == sid and data["streaming"] is True and data["flash_queries"] == 1
            assert isinstance(data["data_version"], int)

            ws.send(json.dumps({"type": "push", "data": records("ohlcv", 3)}))
            ack = recv_until(ws, "push_ack")
            assert set(ack) == {"pushed", "dropped", "queue_size"}
            assert ack["pushed"] == 3 and ack["dropped"] == 0

            updated = recv_until(ws, "data_updated")
            assert set(updated) == {"type", "data_version", "data_count", "pos_next"}
            assert updated["data_version"] > data["data_version"]
            ready = recv_until(ws, "flash_ready")
            assert set(ready) == {
                "type",
                "id",
                "query",
                "value",
                "confidence",
                "data_version",
                "evaluated_at",
            }
            assert ready["query"] == query

            ws.send(json.dumps({"type": "ping"}))
            assert recv_until(ws, "pong") == {}

            ws.send(json.dumps({"type": "close"}))
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=WAIT_S)
        wait_for(lambda: subscribers(client) == 0, timeout=10)
        status = client.get(f"/v1/sessions/{sid}/stream/status").json()
        assert status["statistics"]["total_enqueued"] == 3


def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    api_server: RunningServer, client: httpx.Client, session_id: str
) -> None:
    with ws_connect(api_server, session_id) as ws:
        assert recv(ws)["type"] == "connected"
        bad_record = records("ohlcv", 2)
        bad_record[1]["h"] = "high"
        for frame, code, needle in [
            ("this is not json", 400, "JSON"),
            (json.dumps([1, 2]), 422, ""),
            (json.dumps({"type": "subscribe"}), 422, "subscribe"),
            (json.dumps({"data": []}), 422, "type"),
            (json.dumps({"type": "push"}), 422, "data"),
            (json.dumps({"type": "push", "data": bad_record}), 422, "data[1].h"),
        ]:
            ws.send(frame)
            error = recv_until(ws, "error")
            assert set(error) == {"message", "code"} and error["code"] == code, error
            assert needle in error["message"], error
        ws.send(b'{"type": "ping"}')  # a binary frame holding JSON is read too
        assert recv_until(ws, "pong") == {}
    # Nothing from the rejected pushes was enqueued.
    assert client.get(f"/v1/sessions/{session_id}/stream/status").json()["statistics"]["total_enqueued"] == 0


def test_frame_over_the_cap_closes_with_1009(api_server: RunningServer, session_id: str) -> None:
    with ws_connect(api_server, session_id) as ws:
        assert recv(ws)["type"] == "connected"
        ws.send(json.dumps({"type": "ping", "pad": "x" * (MAX_BODY_BYTES + 1)}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=WAIT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_unknown_session_is_refused_with_404(api_server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(api_server, "sess_" + "f" * 24)
    assert refused.value.response.status_code == 404
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["type"] == "not_found_error"


def test_deleting_the_session_closes_the_socket(api_server: RunningServer, client: httpx.Client) -> None:
    sid = client.post("/v1/sessions/init", json={"type": "spatial"}).json()["session_id"]
    with ws_connect(api_server, sid) as ws:
        assert recv(ws)["type"] == "connected"
        assert client.delete(f"/v1/sessions/{sid}").status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=WAIT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    wait_for(lambda: subscribers(client) == 0, timeout=10)
