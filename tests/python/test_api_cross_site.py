"""What a web page elsewhere cannot do to a key-less server: non-JSON posts (415), requests
under a foreign Host name, as after DNS rebinding (421), and requests or WebSocket handshakes
from a foreign Origin (403)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
import pytest
from api_server import RunningServer, assert_error, records, serving, session
from polling import WAIT_S
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def handshake_status(server: RunningServer, path: str, host: str) -> int:
    """The status of a WebSocket handshake sent with ``host`` as its Host header (WebSocket
    clients write the Host of the URL they connect to; a rebound DNS name does the same)."""
    headers = {
        "host": host,
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": base64.b64encode(os.urandom(16)).decode(),
    }
    with (
        httpx.Client(base_url=server.base_url, trust_env=False, timeout=WAIT_S) as bare,
        bare.stream("GET", path, headers=headers) as response,
    ):
        return response.status_code


PUSH = json.dumps({"data": records("ohlcv", 2)}).encode()


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json"]
)
def test_a_body_that_is_not_declared_json_is_refused(
    client: httpx.Client, session_id: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    url = f"/v1/sessions/{session_id}/stream/push"
    error = assert_error(client.post(url, content=PUSH, headers=headers), 415)
    assert error["code"] == "unsupported_media_type"
    body = json.dumps({"type": "iot"}).encode()
    assert_error(client.post("/v1/sessions/init", content=body, headers=headers), 415)
    assert client.get(f"/v1/sessions/{session_id}/stream/status").json()["statistics"]["total_enqueued"] == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json"]
)
def test_json_content_types_are_accepted(client: httpx.Client, session_id: str, content_type: str) -> None:
    url = f"/v1/sessions/{session_id}/stream/push"
    response = client.post(url, content=PUSH, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_an_optional_body_may_be_left_out_without_a_content_type(
    client: httpx.Client, session_id: str
) -> None:
    url = f"/v1/sessions/{session_id}/mark_prefix"
    assert_error(client.post(url, content=b"{}", headers={"content-type": "text/plain"}), 415)
    assert client.post(url).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.2", "[::2]:80"])
def test_a_foreign_host_is_refused_on_loopback(api_server: RunningServer, session_id: str, host: str) -> None:
    with httpx.Client(base_url=api_server.base_url, trust_env=False, timeout=WAIT_S) as bare:
        for method, path in (
            ("GET", "/v1/health"),
            ("GET", "/v1/sessions"),
            ("DELETE", f"/v1/sessions/{session_id}"),
        ):
            error = assert_error(bare.request(method, path, headers={"host": host}), 421)
            assert error["code"] == "host_not_allowed"
    assert handshake_status(api_server, f"/v1/sessions/{session_id}/ws", host) == 421
    assert handshake_status(api_server, f"/v1/sessions/{session_id}/ws", "localhost") == 101


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1234", "127.0.0.1:80", "[::1]:8080"])
def test_loopback_names_are_answered(client: httpx.Client, host: str) -> None:
    assert client.get("/v1/sessions", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("origin", ["http://attacker.example", "https://127.0.0.1.attacker.example", "null"])
def test_a_foreign_origin_is_refused(api_server: RunningServer, client: httpx.Client, origin: str) -> None:
    with session(client, "ohlcv") as sid:
        url = f"/v1/sessions/{sid}/stream/push"
        error = assert_error(
            client.post(url, content=PUSH, headers={"origin": origin, "content-type": "application/json"}),
            403,
        )
        assert error["code"] == "origin_not_allowed"
        assert_error(client.get("/v1/sessions", headers={"origin": origin}), 403)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{api_server.ws_base}/v1/sessions/{sid}/ws", origin=origin)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert client.get(f"/v1/sessions/{sid}/stream/status").json()["statistics"]["total_enqueued"] == 0


def test_pages_of_a_local_origin_are_answered(api_server: RunningServer, client: httpx.Client) -> None:
    with session(client, "ohlcv") as sid:
        for origin in ("http://localhost:5173", f"http://127.0.0.1:{api_server.port}", "http://[::1]"):
            assert client.get("/v1/sessions", headers={"origin": origin}).status_code == 200
        origin = f"http://127.0.0.1:{api_server.port}"
        with connect(f"{api_server.ws_base}/v1/sessions/{sid}/ws", origin=origin) as ws:  # type: ignore[arg-type]
            assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "connected"


def test_configured_hosts_and_origins(model_path: Path) -> None:
    extra = ("--allowed-hosts", "api.example.com,127.0.0.1", "--allowed-origins", "https://app.example.com")
    with serving(model_path, *extra) as server, server.client() as client:
        assert client.get("/v1/sessions", headers={"host": "api.example.com:443"}).status_code == 200
        assert_error(client.get("/v1/sessions", headers={"host": "localhost"}), 421)
        assert client.get("/v1/sessions", headers={"origin": "https://APP.example.com"}).status_code == 200
        assert_error(client.get("/v1/sessions", headers={"origin": "http://127.0.0.1"}), 403)
        assert_error(client.get("/v1/sessions", headers={"origin": "http://app.example.com"}), 403)


def test_bound_to_every_address_any_host_but_only_its_own_origin(model_path: Path) -> None:
    with serving(model_path, "--host", "0.0.0.0") as server, server.client() as client:
        assert client.get("/v1/sessions", headers={"host": "box.lan:8080"}).status_code == 200
        headers = {"host": "box.lan:8080", "origin": "http://box.lan:8080"}
        assert client.get("/v1/sessions", headers=headers).status_code == 200
        headers["origin"] = "http://attacker.example"
        assert_error(client.get("/v1/sessions", headers=headers), 403)
