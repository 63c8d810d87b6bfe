"""The OpenAPI 3.1 document at ``/openapi.json`` and the page at ``/docs`` that renders it.

The document is written from what the server runs: each ``APIRoute``'s
handler annotations (request and response shapes), docstring and errors
(api_route.py), the error catalogue (errors.py), and the record types from
the core's table (``_core.record_types()``). Server-Sent Events and the
WebSocket, which OpenAPI cannot describe, are described in its text, with
their frames as named schemas. The page is a small script of our own in the
package (``static/``): no CDN, nothing fetched from outside the server.
"""

from __future__ import annotations

import inspect
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

import streaminfer
from streaminfer.server import responses, ws
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import APIError
from streaminfer.server.runtime import get_runtime
from streaminfer.server.shapes import SchemaWriter

# Frames of the SSE streams and the WebSocket: named in the text, defined as schemas.
EVENT_SHAPES = (
    responses.ConnectedEvent,
    responses.FlashReadyEvent,
    responses.DataUpdatedEvent,
    responses.SessionErrorEvent,
    responses.GenerateToken,
    responses.GenerateDone,
    responses.ChatCompletionChunk,
    responses.SocketConnected,
    responses.PushAck,
    responses.SocketError,
)

_KINDS = {"float": "number", "int": "integer", "str": "string"}


def record_schemas() -> dict[str, dict[str, Any]]:
    """One schema per record type, from the core's table, and ``Record``: any of them."""
    from streaminfer import _core

    out: dict[str, dict[str, Any]] = {}
    for rtype in _core.record_types():
        props: dict[str, Any] = {}
        for field in rtype.fields:
            prop: dict[str, Any] = {"type": _KINDS[field.kind], "description": field.description}
            if field.minimum is not None:
                prop["minimum"] = field.minimum
            if field.maximum is not None:
                prop["maximum"] = field.maximum
            if field.max_length is not None:
                prop["description"] += (
                    f" (1 to {field.max_length} bytes of UTF-8, no commas or control characters)"
                )
            if field.example is not None:
                prop["examples"] = [field.example]
            props[field.name] = prop
        name = f"{rtype.name.capitalize()}Record"
        out[name] = {
            "type": "object",
            "description": rtype.description,
            "properties": props,
            "required": [f.name for f in rtype.fields if f.required],
        }
    out["Record"] = {
        "description": "A record of the session's type (chosen at init).",
        "anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in out],
    }
    return out


def _error_response(errors: list[type[APIError]]) -> dict[str, Any]:
    """One status's errors: the error body with its ``type`` and the possible ``code`` values."""
    lines = "\n".join(f"- `{cls.code}`: {cls.when}" for cls in errors)
    detail = {
        "type": "object",
        "properties": {
            "type": {"const": errors[0].error_type},
            "code": {"enum": [cls.code for cls in errors]},
        },
    }
    schema = {"allOf": [{"$ref": "#/components/schemas/ErrorBody"}], "properties": {"error": detail}}
    return {"description": lines, "content": {"application/json": {"schema": schema}}}


def _operation(route: APIRoute, writer: SchemaWriter, secured: bool) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    if params:
        op["parameters"] = params
    if route.body_shape is not None:
        required = bool(getattr(route.body_shape, "__required_keys__", ()))
        op["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": writer.schema(route.body_shape, response=False)}},
        }
    if route.consumes is not None:
        op["requestBody"] = {"required": True, "content": {route.consumes: {"schema": {"type": "string"}}}}
    content: dict[str, Any] = {}
    for shape in route.response_shapes:
        content["application/json"] = {"schema": writer.schema(shape, response=True)}
    if route.produces:
        content[route.produces] = {
            "schema": {"type": "object" if route.produces.endswith("json") else "string"}
        }
    if route.streams:
        content["text/event-stream"] = {
            "schema": {
                "type": "string",
                "description": "Server-Sent Events, as the operation's text describes.",
            }
        }
    ok: dict[str, Any] = {"description": "OK", "content": content}
    by_status: dict[int, list[type[APIError]]] = {}
    for cls in route.errors:
        by_status.setdefault(cls.status_code, []).append(cls)
    op["responses"] = {"200": ok, **{str(s): _error_response(errs) for s, errs in sorted(by_status.items())}}
    if not secured:
        op["security"] = []  # open even when the server has keys
    return op


def _link_session_routes(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from the new session's ``session_id`` to every route that takes one,
    so that clients and schema-driven tools can follow a session from its creation."""
    created = paths.get("/v1/sessions/init", {}).get("post")
    if created is None:
        return
    created["responses"]["200"]["links"] = {
        op["operationId"]: {
            "operationId": op["operationId"],
            "parameters": {"session_id": "$response.body#/session_id"},
        }
        for path, ops in paths.items()
        if "{session_id}" in path
        for op in ops.values()
    }


def build(routes: list[BaseRoute], *, api_keys: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (its ``APIRoute`` entries)."""
    from streaminfer.server.auth import EXEMPT_PATHS

    writer = SchemaWriter()
    writer.schema(responses.ErrorBody, response=True)
    for shape in EVENT_SHAPES:
        writer.schema(shape, response=True)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, APIRoute):
            secured = not api_keys or route.path not in EXEMPT_PATHS
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, writer, secured)
    _link_session_routes(paths)
    description = "\n\n".join(
        [
            inspect.cleandoc(__doc__ or "").split("\n\n")[0],
            "## WebSocket: `/v1/sessions/{session_id}/ws`",
            inspect.cleandoc(ws.websocket_endpoint.__doc__ or ""),
            "The full reference, with examples and limits, is docs/api.md in the repository.",
        ]
    )
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "streaminfer", "version": streaminfer.__version__, "description": description},
        "paths": paths,
        "components": {"schemas": {**writer.components, **record_schemas()}},
    }
    if api_keys:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


# -- routes -----------------------------------------------------------------------


async def openapi_json(request: Request) -> Response:
    """This document."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = build(request.app.routes, api_keys=bool(get_runtime(request).config.api_keys))
    return JSONResponse(state.openapi)


_ASSETS = {
    "docs": ("docs.html", "text/html"),
    "docs.js": ("docs.js", "text/javascript"),
    "docs.css": ("docs.css", "text/css"),
}


async def docs_page(request: Request) -> Response:
    """The API's documentation page (and its script and style), rendered from this document."""
    name, media = _ASSETS[request.url.path.rsplit("/", 1)[-1]]
    text = resources.files("streaminfer.server").joinpath("static").joinpath(name).read_text(encoding="utf-8")
    return HTMLResponse(text) if media == "text/html" else Response(text, media_type=media)


TAG = "documentation"
routes = [
    APIRoute("GET", "/openapi.json", openapi_json, tag=TAG, needs_engine=False, produces="application/json"),
    APIRoute("GET", "/docs", docs_page, tag=TAG, needs_engine=False, produces="text/html"),
    APIRoute(
        "GET",
        "/docs/docs.js",
        docs_page,
        tag=TAG,
        needs_engine=False,
        produces="text/javascript",
        name="docs_script",
    ),
    APIRoute(
        "GET",
        "/docs/docs.css",
        docs_page,
        tag=TAG,
        needs_engine=False,
        produces="text/css",
        name="docs_style",
    ),
]
