"""Request validation, error shapes, API-key middleware and the session registry, in process.

None of these loads a model: the schema functions are pure, the record
rules are the core's table (``_core.format_record`` checks a record as a
push does), the middleware wraps a tiny ASGI app, and an app whose model
cannot load answers 503 everywhere (in the error shape) instead of crashing.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from typing import Any

import httpx
import pytest
from api_server import LOOPBACK
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

from streaminfer import _core
from streaminfer.server import schemas
from streaminfer.server.app import create_app
from streaminfer.server.auth import APIKeyMiddleware
from streaminfer.server.config import ServerConfig
from streaminfer.server.errors import (
    APIError,
    BadRequest,
    BodyTooLarge,
    ValidationFailed,
    exception_handlers,
    translate_core_error,
)
from streaminfer.server.registry import SessionRegistry, new_session_id
from streaminfer.server.schemas import GenerateBody, InitBody, PushBody
from streaminfer.server.shapes import parse

GOOD: dict[str, dict[str, Any]] = {
    "ohlcv": {"o": 1, "h": 2.5, "l": 0.5, "c": 2, "v": 100, "sym": "X", "timestamp": 1_700_000_000},
    "iot": {"sid": "a", "val": 1.5, "lo": 0, "hi": 3},
    "spatial": {"x": 0, "y": 0, "z": 0, "spd": 1.0, "hdg": 360},
    "event": {"src": "fw", "sev": 4, "cat": "auth", "cnt": 0},
    "vitals": {"hr": 70, "bp_s": 120, "bp_d": 80, "spo2": 98, "temp": 36.6},
}


def _param(exc: pytest.ExceptionInfo[APIError]) -> str | None:
    return exc.value.param


def _record_error(data_type: str, record: dict[str, Any]) -> APIError:
    """The API error for a record the core refuses (format_record checks it as push does)."""
    with pytest.raises(_core.RecordError) as exc:
        _core.format_record(data_type, record)
    api = translate_core_error(exc.value)
    assert api is not None
    return api


@pytest.mark.parametrize("data_type", sorted(GOOD))
def test_valid_records_pass(data_type: str) -> None:
    assert _core.format_record(data_type, GOOD[data_type]).endswith("\n")
    assert parse({"data": [GOOD[data_type]]}, PushBody) == {"data": [GOOD[data_type]]}


@pytest.mark.parametrize(
    ("data_type", "field", "value"),
    [
        ("ohlcv", "h", "1.0"),  # a string is not a number
        ("ohlcv", "h", True),  # a bool is not a number
        ("ohlcv", "h", math.nan),
        ("ohlcv", "h", math.inf),
        ("ohlcv", "h", 10**400),  # overflows a double
        ("ohlcv", "sym", 5),
        ("ohlcv", "sym", "a,b"),  # a comma would split the line's columns
        ("ohlcv", "sym", "x" * 65),
        ("ohlcv", "timestamp", 1.5),  # int field sent as a float
        ("ohlcv", "timestamp", 2**70),
        ("ohlcv", "timestamp", 253402300800),  # past 9999-12-31
        ("iot", "sid", 3),
        ("iot", "sid", "\ud800"),  # a lone surrogate is not UTF-8
        ("iot", "sid", "line\nbreak"),
        ("spatial", "hdg", 360.5),
        ("spatial", "hdg", -1),
        ("event", "sev", 5),
        ("event", "sev", 2.0),
        ("event", "sev", False),
        ("event", "cnt", -1),
        ("event", "cnt", 2**60),  # beyond what a double holds exactly
        ("vitals", "temp", [36.6]),
    ],
)
def test_invalid_field_is_an_invalid_record_naming_the_field(data_type: str, field: str, value: Any) -> None:
    api = _record_error(data_type, dict(GOOD[data_type], **{field: value}))
    assert (api.status_code, api.code, api.param) == (422, "invalid_record", f"data[0].{field}")
    assert f"data[0].{field}" in api.message


def test_missing_field_and_the_records_array() -> None:
    record = dict(GOOD["vitals"])
    del record["spo2"]
    assert _record_error("vitals", record).param == "data[0].spo2"
    for data in (None, {"a": 1}, "x"):
        with pytest.raises(ValidationFailed) as exc:
            parse({"data": data}, PushBody)
        assert _param(exc) == "data"


def test_null_optional_fields_are_left_out() -> None:
    record = dict(GOOD["ohlcv"], sym=None, timestamp=None)
    plain = {k: v for k, v in GOOD["ohlcv"].items() if k not in ("sym", "timestamp")}
    assert _core.format_record("ohlcv", record) == _core.format_record("ohlcv", plain)


def test_the_record_table_describes_every_type() -> None:
    """Each type's examples form a valid record, whose line has the header's columns."""
    types = _core.record_types()
    assert [t.name for t in types] == _core.DATA_TYPES
    for t in types:
        example = {f.name: f.example for f in t.fields if f.example is not None}
        line = _core.format_record(t.name, example)
        assert t.header == _core.record_header(t.name)
        required = [f for f in t.fields if f.required]
        assert len(line.replace("/", ",").split(",")) == len(example) >= len(required)
        for f in t.fields:
            assert f.kind in ("float", "int", "str") and f.description
            assert (f.max_length == _core.MAX_TEXT_LENGTH) == (f.kind == "str")


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
    assert parse({"prompt": "p", "max_tokens": 5}, GenerateBody) == {"prompt": "p", "max_tokens": 5}
    assert parse({"prompt": "p", "max_tokens": None}, GenerateBody) == {"prompt": "p"}  # null is absent
    assert parse({"prompt": "p", "max_tokens": -3}, GenerateBody)["max_tokens"] == -3  # ranges are the core's
    big = parse({"prompt": "p", "max_tokens": 10**30}, GenerateBody)["max_tokens"]
    assert big == (1 << 63) - 1  # saturated: out of every range
    for bad in (12.0, True, "5"):
        with pytest.raises(ValidationFailed) as exc:
            parse({"prompt": "p", "max_tokens": bad}, GenerateBody)
        assert _param(exc) == "max_tokens"
    assert parse({"prompt": "p", "stream": True}, GenerateBody)["stream"] is True
    with pytest.raises(ValidationFailed):
        parse({"prompt": "p", "stream": 1}, GenerateBody)
    assert schemas.stop_list(parse({"prompt": "p", "stop": ["a", "b"]}, GenerateBody)["stop"]) == ["a", "b"]
    assert schemas.stop_list(parse({"prompt": "p", "stop": "a"}, GenerateBody)["stop"]) == ["a"]
    with pytest.raises(ValidationFailed) as exc:
        parse({"prompt": "p", "stop": ["a", 1]}, GenerateBody)
    assert _param(exc) == "stop[1]"
    with pytest.raises(ValidationFailed) as exc:
        parse({"prompt": "\ud800"}, GenerateBody)
    assert _param(exc) == "prompt" and "UTF-8" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        parse({}, GenerateBody)
    assert _param(exc) == "prompt" and "required" in exc.value.message


def test_flash_specs_shape_and_the_core_rules() -> None:
    flash = [
        {"query": "up?"},
        {"query": "down?", "max_tokens": 999},
        "bare?",
        {"query": "z", "max_tokens": 0},
    ]
    body = parse({"type": "ohlcv", "flash": flash}, InitBody)
    assert schemas.flash_specs(body["flash"]) == [("up?", None), ("down?", 999), ("bare?", None), ("z", 0)]
    for bad, param in (
        ([{"max_tokens": 3}], "flash[0].query"),
        ([{"query": "a", "max_tokens": 1.0}], "flash[0].max_tokens"),
        ([3], "flash[0]"),
        ("up?", "flash"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            parse({"type": "ohlcv", "flash": bad}, InitBody)
        assert _param(exc) == param
    with pytest.raises(_core.ParamError) as core_exc:
        _core.record_header("stocks")
    api = translate_core_error(core_exc.value)
    assert api is not None and (api.status_code, api.param) == (422, "type")


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
        raise BodyTooLarge("too big")
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
    with TestClient(_app(), base_url=LOOPBACK, raise_server_exceptions=False) as client:
        assert client.get("/v1/thing").json() == {"ok": True}
        assert _error(client.get("/v1/thing", params={"kind": "api"}), 413)["message"] == "too big"
        assert _error(client.get("/v1/nowhere"), 404)["type"] == "not_found_error"
        assert _error(client.post("/v1/thing"), 405)["code"] == "method_not_allowed"
        bug = _error(client.get("/v1/thing", params={"kind": "bug"}), 500)
        assert bug["type"] == "server_error" and "boom" not in bug["message"]


def test_api_key_middleware() -> None:
    keys = ("alpha", "beta")
    with TestClient(_app(keys), base_url=LOOPBACK) as client:
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
    with TestClient(app, base_url=LOOPBACK, raise_server_exceptions=False) as client:
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
