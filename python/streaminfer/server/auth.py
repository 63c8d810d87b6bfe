"""API-key authentication as pure ASGI middleware.

With keys configured, every HTTP request and WebSocket handshake except
``GET /v1/health`` and the API's documentation must carry ``Authorization: Bearer <key>``; a WebSocket may
instead pass ``?api_key=<key>`` (browsers cannot set headers on one). Keys are
compared in constant time, against every configured key.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streaminfer.server.errors import APIError, InvalidAPIKey, MissingAPIKey, Unauthorized

# Health, and the API's own description (nothing in it is secret): open with keys set.
EXEMPT_PATHS = frozenset({"/v1/health", "/openapi.json", "/docs", "/docs/docs.js", "/docs/docs.css"})


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            return None
    return None


def _query_key(scope: Scope) -> bytes | None:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "api_key":
            return value.encode("utf-8", "surrogateescape")
    return None


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, api_keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [key.encode("utf-8") for key in api_keys]

    def _valid(self, presented: bytes | None) -> bool:
        if not presented:  # an empty key is never valid
            return False
        ok = False
        for key in self.keys:  # no early exit: the time taken does not depend on which key matched
            ok |= hmac.compare_digest(presented, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.keys or scope["type"] not in ("http", "websocket") or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        if presented is None and scope["type"] == "websocket":
            presented = _query_key(scope)
        if self._valid(presented):
            await self.app(scope, receive, send)
            return
        if presented is None:
            error: Unauthorized = MissingAPIKey("missing API key: send 'Authorization: Bearer <key>'")
        else:
            error = InvalidAPIKey("invalid API key")
        challenge = (b"www-authenticate", b'Bearer realm="streaminfer"')
        await refuse(scope, receive, send, error, challenge, reason="unauthorized")


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    error: APIError,
    *extra_headers: tuple[bytes, bytes],
    reason: str | None = None,
) -> None:
    """Answer an HTTP request, or refuse a WebSocket handshake, with ``error``'s status and
    body; ``reason`` (default: the error's code) is the close reason where a handshake can
    only be closed."""
    body = json.dumps(error.body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await _deny_websocket(scope, receive, send, error.status_code, headers, body, reason or error.code)


async def _deny_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    reason: str,
) -> None:
    """Refuse a handshake with an HTTP response when the server supports it, else close (1008)."""
    message: Message = await receive()  # websocket.connect
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
