"""Request validation, error shapes, API-key middleware and the session registry, in process.

These need neither the compiled core nor a model: the schema functions are
pure, the middleware wraps a tiny ASGI app, and an app whose model cannot
load answers 503 everywhere (in the error shape) instead of crashing.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

from streaminfer.server import schemas
from streaminfer.server.app import create_app
from streaminfer.server.auth import APIKeyMiddleware
from streaminfer.server.config import ServerConfig
from streaminfer.server.errors import (
    APIError,
    BadRequest,
    PayloadTooLarge,
    ValidationFailed,
    exception_handlers,
)
from streaminfer.server.registry import SessionRegistry, new_session_id

GOOD: dict[str, dict[str, Any]] = {
    "ohlcv": {"o": 1, "h": 2.5, "l": 0.5, "c": 2, "v": 100, "sym": "X", "timestamp": 1_700_000_000},
    "iot": {"sid": "a", "val": 1.5, "lo": 0, "hi": 3},
    "spatial": {"x": 0, "y": 0, "z": 0, "spd": 1.0, "hdg": 360},
    "event": {"src": "fw", "sev": 4, "cat": "auth", "cnt": 0},
    "vitals": {"hr": 70, "bp_s": 120, "bp_d": 80, "spo2": 98, "temp": 36.6},
}


def _param(exc: pytest.ExceptionInfo[APIError]) -> str | None:
    return exc.value.param


@pytest.mark.parametrize("data_type", sorted(GOOD))
def test_valid_records_pass(data_type: str) -> None:
    batch = [GOOD[data_type], dict(GOOD[data_type])]
    assert schemas.records(data_type, batch) == batch


@pytest.mark.parametrize(
    ("data_type", "field", "value"),
    [
        ("ohlcv", "h", "1.0"),  # a string is not a number
        ("ohlcv", "h", True),  # a bool is not a number
        ("ohlcv", "h", math.nan),
        ("ohlcv", "h", math.inf),
        ("ohlcv", "h", 10**400),  # overflows a double
        ("ohlcv", "sym", 5),
        ("ohlcv", "timestamp", 1.5),  # int field sent as a float
        ("ohlcv", "timestamp", 2**70),
        ("iot", "sid", 3),
        ("iot", "sid", "\ud800"),  # a lone surrogate is not UTF-8
        ("spatial", "hdg", 360.5),
        ("spatial", "hdg", -1),
        ("event", "sev", 5),
        ("event", "sev", 2.0),
        ("event", "sev", False),
        ("event", "cnt", -1),
        ("vitals", "temp", [36.6]),
    ],
)
def test_invalid_field_names_index_and_field(data_type: str, field: str, value: Any) -> None:
    bad = dict(GOOD[data_type], **{field: value})
    with pytest.raises(ValidationFailed) as exc:
        schemas.records(data_type, [GOOD[data_type], GOOD[data_type], bad])
    assert _param(exc) == f"data[2].{field}"
    assert exc.value.status_code == 422
    assert f"data[2].{field}" in exc.value.message


def test_missing_field_and_non_object_record() -> None:
    record = dict(GOOD["vitals"])
    del record["spo2"]
    with pytest.raises(ValidationFailed) as exc:
        schemas.records("vitals", [record])
    assert _param(exc) == "data[0].spo2"
    with pytest.raises(ValidationFailed) as exc:
        schemas.records("vitals", [GOOD["vitals"], 7])
    assert _param(exc) == "data[1]"
    for data in (None, {"a": 1}, "x"):
        with pytest.raises(ValidationFailed) as exc:
            schemas.records("vitals", data)
        assert _param(exc) == "data"


def test_null_optional_fields_are_left_out() -> None:
    record = dict(GOOD["ohlcv"], sym=None, timestamp=None)
    cleaned = schemas.records("ohlcv", [GOOD["ohlcv"], record])
    assert "sym" not in cleaned[1] and "timestamp" not in cleaned[1]
    assert cleaned[0] is GOOD["ohlcv"]


def test_json_body_parsing() -> None:
    assert schemas.parse_json_object(b'{"a": 1}') == {"a": 1}
    assert schemas.parse_json_object(b"", empty_ok=True) == {}
    for raw in (b"{", b"\xff\xfe", b"", b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadRequest):
            schemas.parse_json_object(raw)
    for raw in (b"[1]", b"3", b'"x"', b"null"):
        with pytest.raises(ValidationFailed):
            schemas.parse_json_object(raw)


def test_scalar_checks() -> None:
    body: dict[str, Any] = {"n": 5, "f": 12.0, "b": True, "s": "x", "big": 10**30, "neg": -3}
    assert schemas.optional_int(body, "n", 0) == 5
    assert schemas.optional_int(body, "missing", 7) == 7
    for key in ("f", "b", "s", "big", "neg"):
        with pytest.raises(ValidationFailed) as exc:
            schemas.optional_int(body, key, 0)
        assert _param(exc) == key
    assert schemas.clamped_int(body, "big", 32, 1, 256) == 256
    assert schemas.clamped_int(body, "neg", 32, 1, 256) == 1
    assert schemas.clamped_int(body, "missing", 32, 1, 256) == 32
    with pytest.raises(ValidationFailed):
        schemas.clamped_int(body, "f", 32, 1, 256)
    assert schemas.optional_bool(body, "b", False) is True
    with pytest.raises(ValidationFailed):
        schemas.optional_bool(body, "n", False)
    assert schemas.optional_str_list({"stop": ["a", "b"]}, "stop") == ["a", "b"]
    assert schemas.optional_str_list({"stop": "a"}, "stop") == ["a"]
    with pytest.raises(ValidationFailed) as exc:
        schemas.optional_str_list({"stop": ["a", 1]}, "stop")
    assert _param(exc) == "stop[1]"


def test_data_type_and_flash_specs() -> None:
    assert schemas.data_type({"type": "iot"}) == "iot"
    for body in ({}, {"type": "stocks"}, {"type": 1}):
        with pytest.raises(ValidationFailed) as exc:
            schemas.data_type(body)
        assert _param(exc) == "type"
    specs = schemas.flash_specs(
        {
            "flash": [
                {"query": "up?"},
                {"query": "down?", "max_tokens": 999},
                "bare?",
                {"query": "z", "max_tokens": 0},
            ]
        },
        32,
        256,
    )
    assert specs == [("up?", 32), ("down?", 256), ("bare?", 32), ("z", 1)]
    for flash, param in (
        ([{"max_tokens": 3}], "flash[0].query"),
        ([{"query": ""}], "flash[0].query"),
        ([{"query": "a", "max_tokens": 1.0}], "flash[0].max_tokens"),
        ([3], "flash[0]"),
        ("up?", "flash"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            schemas.flash_specs({"flash": flash}, 32, 256)
        assert _param(exc) == param


def test_registry_ids_and_limit() -> None:
    session_id = new_session_id()
    assert session_id.startswith("sess_") and len(session_id) == 5 + 24
    assert all(c in "0123456789abcdef" for c in session_id[5:])
    registry = SessionRegistry(max_sessions=1)
    with registry.reserve() as first:
        assert first.startswith("sess_")
        with pytest.raises(APIError) as exc, registry.reserve():
            pass
        assert exc.value.status_code == 429
    with registry.reserve():  # the slot was released
        pass
    with pytest.raises(APIError) as exc:
        registry.get("sess_nope")
    assert exc.value.status_code == 404


# -- error handlers and middleware over small apps ------------------------------


async def _raise(request: Request) -> JSONResponse:
    kind = request.query_params.get("kind")
    if kind == "api":
        raise PayloadTooLarge("too big")
    if kind == "bug":
        raise RuntimeError("boom")
    return JSONResponse({"ok": True})


async def _ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"ok": True})
    await websocket.close()


def _app(keys: tuple[str, ...] = ()) -> Starlette:
    from starlette.middleware import Middleware

    return Starlette(
        routes=[
            Route("/v1/health", _raise),
            Route("/v1/thing", _raise, methods=["GET"]),
            WebSocketRoute("/v1/ws", _ws),
        ],
        middleware=[Middleware(APIKeyMiddleware, api_keys=keys)],
        exception_handlers=exception_handlers(),
    )


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"message", "type", "code", "param"}
    error: dict[str, Any] = body["error"]
    return error


def test_error_shapes_for_api_errors_routing_and_bugs() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert client.get("/v1/thing").json() == {"ok": True}
        assert _error(client.get("/v1/thing", params={"kind": "api"}), 413)["message"] == "too big"
        assert _error(client.get("/v1/nowhere"), 404)["type"] == "not_found_error"
        assert _error(client.post("/v1/thing"), 405)["code"] == "method_not_allowed"
        bug = _error(client.get("/v1/thing", params={"kind": "bug"}), 500)
        assert bug["type"] == "server_error" and "boom" not in bug["message"]


def test_api_key_middleware() -> None:
    keys = ("alpha", "beta")
    with TestClient(_app(keys)) as client:
        assert client.get("/v1/health").status_code == 200  # exempt
        missing = _error(client.get("/v1/thing"), 401)
        assert missing["type"] == "authentication_error"
        _error(client.get("/v1/thing", headers={"Authorization": "Bearer gamma"}), 401)
        _error(client.get("/v1/thing", headers={"Authorization": "Basic alpha"}), 401)
        _error(client.get("/v1/thing", headers={"Authorization": "Bearer "}), 401)
        _error(client.get("/v1/thing", params={"api_key": "alpha"}), 401)  # query keys: WebSocket only
        for key in keys:
            assert client.get("/v1/thing", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        with client.websocket_connect("/v1/ws?api_key=beta") as ws:
            assert ws.receive_json() == {"ok": True}
        with client.websocket_connect("/v1/ws", headers={"Authorization": "Bearer alpha"}) as ws:
            assert ws.receive_json() == {"ok": True}
        with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/v1/ws?api_key=nope"):
            pass


def test_app_without_a_loadable_model_answers_503() -> None:
    app = create_app(ServerConfig(model_path="/nonexistent/model.gguf"))
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(100):  # the failed start is recorded almost at once
            if app.state.runtime.error:
                break
            time.sleep(0.05)
        assert app.state.runtime.error
        health = _error(client.get("/v1/health"), 503)
        assert health["type"] == "service_unavailable"
        _error(client.post("/v1/sessions/init", json={"type": "ohlcv"}), 503)
        _error(client.get("/v1/sessions"), 503)
        _error(client.get("/v1/nowhere"), 404)
        models = client.get("/v1/models").json()
        assert models["object"] == "list" and models["data"][0]["id"] == "model"
        assert json.loads(client.get("/v1/models").text)["data"][0]["created"] == 0
