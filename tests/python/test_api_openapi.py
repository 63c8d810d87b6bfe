"""The OpenAPI document and the /docs page: valid, complete, served from the package alone.

That every response of the API tests matches the document is checked by
``openapi_check.check_response`` on every client they use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import RunningServer, checked_client
from openapi_check import check_response, document
from openapi_spec_validator import validate
from starlette.routing import WebSocketRoute

from streaminfer.server.api_route import APIRoute
from streaminfer.server.app import create_app
from streaminfer.server.config import ServerConfig
from streaminfer.server.errors import catalogue

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc(api_server: RunningServer) -> dict[str, Any]:
    return document(api_server.base_url)


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_described(doc: dict[str, Any]) -> None:
    """Each HTTP route of the app is an operation with its body, responses and errors."""
    app = create_app(ServerConfig(model_path="unused.gguf"))
    for route in app.routes:
        if isinstance(route, WebSocketRoute):  # described in the document's text
            assert route.path in doc["info"]["description"]
            continue
        assert isinstance(route, APIRoute), route.path
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"] and op["responses"]["200"]["content"], route.path
        if route.body_shape is not None:
            assert "application/json" in op["requestBody"]["content"]
        for error in route.errors:
            response = op["responses"][str(error.status_code)]
            assert f"`{error.code}`" in response["description"]


def test_bodies_and_errors_are_the_server_own(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["InitBody"]["required"] == ["type"]
    assert len(schemas["GenerateBody"]["properties"]["stop"]["anyOf"]) == 2  # a string, or an array of them
    assert schemas["SessionCreated"]["additionalProperties"] is False
    # The record types come from the core's table.
    ohlcv = schemas["OhlcvRecord"]
    assert set(ohlcv["required"]) >= {"o", "h", "l", "c", "v"}
    assert schemas["SpatialRecord"]["properties"]["hdg"]["maximum"] == 360
    push = doc["paths"]["/v1/sessions/{session_id}/stream/push"]["post"]
    codes = push["responses"]["422"]["content"]["application/json"]["schema"]["properties"]["error"]
    assert set(codes["properties"]["code"]["enum"]) == {"invalid_record", "validation_error"}
    assert "404" in push["responses"] and "401" in push["responses"]
    health = doc["paths"]["/v1/health"]["get"]
    assert "401" not in health["responses"]  # never needs a key
    assert (
        "text/event-stream"
        in doc["paths"]["/v1/sessions/{session_id}/events"]["get"]["responses"]["200"]["content"]
    )
    for name in ("FlashReadyEvent", "DataUpdatedEvent", "SocketConnected", "ChatCompletionChunk"):
        assert name in schemas


def test_the_response_check_refuses_what_the_document_does_not_allow(api_server: RunningServer) -> None:
    """The hook every API test's client carries fails a response that does not match."""

    def response(
        status: int, body: Any, method: str = "POST", path: str = "/v1/sessions/init"
    ) -> httpx.Response:
        request = httpx.Request(method, f"{api_server.base_url}{path}")
        return httpx.Response(status, json=body, request=request)

    good = {  # what init answers
        "session_id": "sess_" + "0" * 24,
        "type": "ohlcv",
        "n_tokens": 70,
        "context_size": 1024,
        "window_size": 20,
        "flash_queries": 0,
        "pos_max": 69,
    }
    check_response(response(200, good))
    error = {"error": {"message": "m", "type": "rate_limit_error", "code": "max_sessions", "param": None}}
    check_response(response(429, error))
    bad = [
        response(200, {k: v for k, v in good.items() if k != "pos_max"}),  # a key missing
        response(200, {**good, "extra": 1}),  # a key not in the shape
        response(200, {**good, "window_size": "20"}),  # a wrong type
        response(418, error),  # a status the route does not declare
        response(429, {"error": {**error["error"], "code": "session_not_found"}}),  # not a 429 code
        response(404, error, "GET", "/v1/sessions/x/y/z"),  # no route: the 404 must be not_found's shape
    ]
    for wrong in bad:
        with pytest.raises(AssertionError):
            check_response(wrong)


def test_the_reference_lists_every_error() -> None:
    """docs/api.md's error table has exactly the server's errors (errors.py's catalogue)."""
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    table = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| (\d{3}) \| `(\w+)` \| `(\w+)` \|", table, re.MULTILINE))
    assert rows == {(str(cls.status_code), cls.error_type, cls.code) for cls in catalogue()}


def test_docs_page_is_served_from_the_package(api_server: RunningServer) -> None:
    with checked_client(api_server.base_url) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sorted(assets) == ["/docs/docs.css", "/docs/docs.js", "/openapi.json"]  # all on this server
        for asset in ("/docs/docs.css", "/docs/docs.js"):
            body = client.get(asset)
            assert body.status_code == 200 and body.text
            assert not re.search(r"https?://", body.text), f"{asset} refers to another host"
        assert "/openapi.json" in client.get("/docs/docs.js").text


def test_documentation_is_open_and_metrics_need_the_key(auth_server: RunningServer) -> None:
    with checked_client(auth_server.base_url) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/docs").status_code == 200
        assert anonymous.get("/metrics").status_code == 401
        doc = anonymous.get("/openapi.json").json()
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    with auth_server.client() as client:
        assert client.get("/metrics").status_code == 200
