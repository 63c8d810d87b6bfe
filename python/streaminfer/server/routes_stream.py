"""Streaming data: push, stream status, window statistics and the SSE event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streaminfer.server import schemas, views
from streaminfer.server.errors import NotFound, core_errors
from streaminfer.server.hub import EventHub
from streaminfer.server.registry import SessionEntry
from streaminfer.server.runtime import Runtime, get_runtime, touch_session
from streaminfer.server.sse import PING, EventStreamResponse, frame


def push_records(entry: SessionEntry, value: object) -> dict[str, int]:
    """Validate a whole batch, then enqueue it (never waits for the model). Shared with /ws."""
    records = schemas.records(value)
    with core_errors(param="data"):
        return views.push_result(entry.session.push(records))


async def push(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry:
        body = await schemas.read_json(request, rt.config.max_body_bytes)
        return JSONResponse(push_records(entry, body.get("data")))


async def stream_status(request: Request) -> JSONResponse:
    entry = touch_session(request)
    with core_errors():
        return JSONResponse(views.stream_status(entry.session.state()))


async def stats(request: Request) -> JSONResponse:
    entry = touch_session(request)
    with core_errors():
        return JSONResponse(views.finite(entry.session.stats()))


async def _event_frames(rt: Runtime, hub: EventHub, session_id: str) -> AsyncIterator[bytes]:
    ping_interval = rt.config.sse_ping_interval_s
    try:
        with rt.registry.use(session_id) as entry, hub.subscribe(session_id) as sub:
            session = entry.session
            yield frame(
                {
                    "type": "connected",
                    "data_version": session.data_version(),
                    "flash_queries": session.flash_count(),
                },
                "connected",
            )
            while True:
                try:
                    event = await asyncio.wait_for(sub.get(), ping_interval)
                except asyncio.TimeoutError:
                    yield PING
                    continue
                if event is None:  # the session was deleted, or the server is stopping
                    return
                data = views.session_event(event)
                if data is not None:
                    yield frame(data, data["type"])
    except NotFound:  # deleted between the response start and the first frame
        return


async def events(request: Request) -> EventStreamResponse:
    """SSE: ``connected`` first, then the session's ``flash_ready`` / ``data_updated`` events.

    The subscription lives exactly as long as the frame iterator, which the
    response closes as soon as the client disconnects.
    """
    rt = get_runtime(request)
    _, hub = rt.require()
    session_id = request.path_params["session_id"]
    rt.registry.get(session_id)  # 404 before the stream starts
    return EventStreamResponse(_event_frames(rt, hub, session_id))


routes = [
    Route("/v1/sessions/{session_id}/stream/push", push, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stream/status", stream_status, methods=["GET"]),
    Route("/v1/sessions/{session_id}/stats", stats, methods=["GET"]),
    Route("/v1/sessions/{session_id}/events", events, methods=["GET"]),
]
