"""API keys (HTTP and WebSocket) and the session limit, on a server started with --api-key."""

from __future__ import annotations

import json

import httpx
import pytest
from api_server import API_KEYS, AUTH_MAX_SESSIONS, RunningServer, assert_error, checked_client, sse_events
from polling import WAIT_S
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def _bare(server: RunningServer, **headers: str) -> httpx.Client:
    return checked_client(server.base_url, headers=headers)


def test_health_is_open_everything_else_needs_a_key(auth_server: RunningServer) -> None:
    with _bare(auth_server) as anonymous:
        health = anonymous.get("/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        for method, path in [
            ("GET", "/v1/models"),
            ("GET", "/v1/sessions"),
            ("POST", "/v1/sessions/init"),
            ("GET", "/v1/sessions/sess_000000000000000000000000/state"),
            ("GET", "/v1/internal/stats"),
            ("GET", "/v1/nowhere"),
        ]:
            error = assert_error(anonymous.request(method, path), 401)
            assert error["type"] == "authentication_error"
        assert "Bearer" in anonymous.get("/v1/models").headers["www-authenticate"]
        # The key in the query string is for WebSocket handshakes only.
        assert_error(anonymous.get("/v1/models", params={"api_key": API_KEYS[0]}), 401)
    for bad in ("Bearer wrong", f"Basic {API_KEYS[0]}", f"Bearer {API_KEYS[0]}x", "Bearer"):
        with _bare(auth_server, Authorization=bad) as client:
            assert_error(client.get("/v1/models"), 401)
    for key in API_KEYS:
        with _bare(auth_server, Authorization=f"Bearer {key}") as client:
            assert client.get("/v1/models").status_code == 200


def test_session_limit_is_429(auth_server: RunningServer) -> None:
    with auth_server.client() as client:
        created = []
        try:
            for _ in range(AUTH_MAX_SESSIONS):
                response = client.post("/v1/sessions/init", json={"type": "iot"})
                assert response.status_code == 200, response.text
                created.append(response.json()["session_id"])
            error = assert_error(client.post("/v1/sessions/init", json={"type": "iot"}), 429)
            assert str(AUTH_MAX_SESSIONS) in error["message"]
            listing = client.get("/v1/sessions").json()
            assert listing["count"] == AUTH_MAX_SESSIONS == listing["max_sessions"]
            client.delete(f"/v1/sessions/{created.pop()}")
            response = client.post("/v1/sessions/init", json={"type": "iot"})
            assert response.status_code == 200, response.text
            created.append(response.json()["session_id"])
        finally:
            for sid in created:
                client.delete(f"/v1/sessions/{sid}")


def test_sse_and_websocket_with_keys(auth_server: RunningServer) -> None:
    with auth_server.client() as client:
        sid = client.post("/v1/sessions/init", json={"type": "event"}).json()["session_id"]
        try:
            with client.stream("GET", f"/v1/sessions/{sid}/events") as response:
                assert next(sse_events(response.iter_lines()))[0] == "connected"
            with _bare(auth_server) as anonymous:
                assert_error(anonymous.get(f"/v1/sessions/{sid}/events"), 401)

            url = f"{auth_server.ws_base}/v1/sessions/{sid}/ws"
            with connect(url, additional_headers={"Authorization": f"Bearer {API_KEYS[1]}"}) as ws:
                assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "connected"
            with connect(f"{url}?api_key={API_KEYS[0]}") as ws:
                assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "connected"
            for bad_url in (url, f"{url}?api_key=wrong"):
                with pytest.raises(InvalidStatus) as refused:
                    connect(bad_url)
                assert refused.value.response.status_code == 401
        finally:
            client.delete(f"/v1/sessions/{sid}")
