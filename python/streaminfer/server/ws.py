"""``ws://HOST/v1/sessions/{id}/ws``: push records and receive the session's events on one socket.

Server frames are ``{"type": str, "data": object}``. A bad client frame gets an
``error`` frame (``code`` 400 for bytes that are not JSON, 422 for a frame
that does not fit the schema, as over HTTP) and the socket stays open.
Frames are capped by uvicorn's ``ws_max_size`` (16 MiB by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from streaminfer.server import schemas
from streaminfer.server.errors import APIError, BodyTooLarge, InvalidField
from streaminfer.server.hub import SESSION_DELETED, Subscription
from streaminfer.server.registry import SessionEntry, now_ms
from streaminfer.server.routes_stream import push_records
from streaminfer.server.runtime import get_runtime
from streaminfer.server.schemas import PushBody
from streaminfer.server.shapes import parse
from streaminfer.server.sse import dumps

logger = logging.getLogger("streaminfer.server")


class _Closed(Exception):
    """The client asked to close (``{"type": "close"}``)."""


class Connection:
    def __init__(
        self, ws: WebSocket, entry: SessionEntry, sub: Subscription, max_frame: int, max_records: int
    ) -> None:
        self.ws = ws
        self.max_frame = max_frame
        self.max_records = max_records
        self.entry = entry
        self.sub = sub
        self._send_lock = asyncio.Lock()

    async def send(self, kind: str, data: Mapping[str, Any]) -> None:
        text = dumps({"type": kind, "data": data})
        async with self._send_lock:
            await self.ws.send_text(text)

    async def send_error(self, exc: APIError) -> None:
        await self.send("error", {"message": exc.message, "code": exc.status_code})

    async def read_loop(self) -> None:
        """Client frames, until the client disconnects or sends ``close``."""
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw: str | bytes = message.get("text") or message.get("bytes") or b""
            try:
                if len(raw) > self.max_frame:  # uvicorn's ws_max_size closes first when it is set
                    raise BodyTooLarge(f"frame exceeds the limit of {self.max_frame} bytes")
                await self.handle(schemas.parse_json_object(raw))
            except _Closed:
                return
            except APIError as exc:
                await self.send_error(exc)
            except Exception:
                logger.exception("websocket frame failed")
                await self.send("error", {"message": "internal server error", "code": 500})

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "push":
            result = await push_records(self.entry, parse(frame, PushBody), self.max_records)
            self.entry.last_used_at = now_ms()
            ack = {key: result[key] for key in ("pushed", "dropped", "queue_size")}
            await self.send("push_ack", ack)
        elif kind == "ping":
            await self.send("pong", {})
        elif kind == "close":
            raise _Closed
        elif isinstance(kind, str):
            raise InvalidField(f"unknown frame type {kind!r}; expected push, ping or close", param="type")
        else:
            raise InvalidField("a frame must be an object with a string 'type'", param="type")

    async def event_loop(self) -> None:
        """The session's events, until the session goes away."""
        while True:
            item = await self.sub.get()
            if item is None:
                return
            if not isinstance(item, TimeoutError):
                async with self._send_lock:
                    await self.ws.send_text(item.ws_text)


async def _deny(ws: WebSocket, exc: APIError) -> None:
    """Refuse the handshake with an HTTP error when the server supports it, else close."""
    if "websocket.http.response" in ws.scope.get("extensions", {}) and hasattr(ws, "send_denial_response"):
        await ws.send_denial_response(JSONResponse(exc.body(), status_code=exc.status_code))
    else:
        await ws.close(code=4000 + exc.status_code, reason=exc.message[:120])


async def websocket_endpoint(ws: WebSocket) -> None:
    """Push records and receive the session's events on one socket.

    Authentication: the `Authorization` header, or `?api_key=<key>`. A refused
    handshake (401, 404 `session_not_found`, 503) is answered with that HTTP
    status and the error body.

    Every server frame is a text frame `{"type": string, "data": object}`:
    `connected` first (data `SocketConnected`), `push_ack` after each valid
    push (`PushAck`), `pong` (`{}`), `data_updated`, `flash_ready` and a
    session's decode failure `error` (the same data as the SSE events:
    `DataUpdatedEvent`, `FlashReadyEvent`, `SessionErrorEvent`), and `error`
    (`SocketError`, no `type` in its data) for a bad client frame, after
    which the connection stays open. Client frames are JSON objects:
    `{"type": "push", "data": [Record, ...]}` (validated as over HTTP: the
    whole frame, nothing queued on error), `{"type": "ping"}` and
    `{"type": "close"}`. Close codes: 1000 after a client `close`, 1001 when
    the session is deleted (reason `session deleted`) or the server stops
    (reason `server stopping`), 1009 for a frame over the
    body size limit.
    """
    rt = get_runtime(ws)
    session_id: str = ws.path_params["session_id"]
    try:
        _, hub = rt.require()
        rt.registry.get(session_id)
    except APIError as exc:
        await _deny(ws, exc)
        return
    with rt.registry.use(session_id) as entry, hub.subscribe(session_id) as sub:
        await ws.accept()
        conn = Connection(ws, entry, sub, rt.config.max_ws_frame_bytes, rt.config.max_records_per_push)
        session = entry.session
        await conn.send(
            "connected",
            {
                "session_id": session_id,
                "data_version": session.data_version(),
                "streaming": True,
                "flash_queries": session.flash_count(),
            },
        )
        reader = asyncio.ensure_future(conn.read_loop())
        writer = asyncio.ensure_future(conn.event_loop())
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            writer.cancel()
            results = await asyncio.gather(reader, writer, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, OSError):
                logger.warning("websocket ended with %r", result)
        session_gone = writer.done() and not writer.cancelled() and writer.exception() is None
        if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                if session_gone:
                    await ws.close(code=1001, reason=sub.end_reason or SESSION_DELETED)
                else:
                    await ws.close(code=1000)


routes = [WebSocketRoute("/v1/sessions/{session_id}/ws", websocket_endpoint)]
