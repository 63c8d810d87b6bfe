"""Session lifecycle: init, list, state, delete, append, mark_prefix, slots."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streaminfer.server import schemas, views
from streaminfer.server.errors import core_errors
from streaminfer.server.runtime import get_runtime, touch_session


async def init_session(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    engine, _ = rt.require()
    body = await schemas.read_json(request, rt.config.max_body_bytes)
    data_type = schemas.required_str(body, "type")
    prompt = schemas.optional_str(body, "prompt", "")
    context_size = schemas.optional_int(body, "context_size") or 0
    window_size = schemas.optional_int(body, "window_size") or 0
    flash = schemas.flash_specs(body)
    with rt.registry.reserve() as session_id:
        with core_errors():
            session = await asyncio.to_thread(
                engine.create_session, session_id, data_type, prompt, context_size, window_size, flash or None
            )
        rt.registry.add(session)
    return JSONResponse(views.session_created(session_id, session, session.state()))


async def list_sessions(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    items = [
        views.session_summary(session_id, entry, entry.session.state())
        for session_id, entry in rt.registry.entries()
    ]
    return JSONResponse({"sessions": items, "count": len(items), "max_sessions": rt.registry.max_sessions})


async def session_state(request: Request) -> JSONResponse:
    entry = touch_session(request)
    with core_errors():
        state = entry.session.state()
        text = entry.session.context_text()
    return JSONResponse(views.session_state(request.path_params["session_id"], entry, state, text))


async def delete_session(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    engine, hub = rt.require()
    session_id = request.path_params["session_id"]
    rt.registry.remove(session_id)
    hub.close_session(session_id, "the session was deleted")
    with core_errors():
        await asyncio.to_thread(engine.destroy_session, session_id)
    return JSONResponse({"success": True})


async def append_text(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry:
        body = await schemas.read_json(request, rt.config.max_body_bytes)
        text = schemas.required_str(body, "text")
        with core_errors(param="text"):
            result = await asyncio.to_thread(entry.session.append_text, text)
    return JSONResponse(views.appended(result))


async def mark_prefix(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry:
        await schemas.read_json(request, rt.config.max_body_bytes, empty_ok=True)
        with core_errors():
            mark = await asyncio.to_thread(entry.session.mark_prefix)
    return JSONResponse(views.prefix_marked(mark))


async def session_slots(request: Request) -> JSONResponse:
    entry = touch_session(request)
    with core_errors():
        return JSONResponse(views.slots(entry.session.state()))


routes = [
    Route("/v1/sessions/init", init_session, methods=["POST"]),
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions/{session_id}/state", session_state, methods=["GET"]),
    Route("/v1/sessions/{session_id}", session_state, methods=["GET"]),  # the same as .../state
    Route("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/append", append_text, methods=["POST"]),
    Route("/v1/sessions/{session_id}/mark_prefix", mark_prefix, methods=["POST"]),
    Route("/v1/sessions/{session_id}/slots", session_slots, methods=["GET"]),
]
