"""Session lifecycle: init, list, state, delete, append, mark_prefix, slots."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streaminfer.server import schemas, views
from streaminfer.server.errors import Conflict, TooManyRequests, core_errors
from streaminfer.server.runtime import get_runtime

MAX_FLASH_QUERIES = 20
MAX_FLASH_TOKENS = 256
DEFAULT_FLASH_TOKENS = 32


async def init_session(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    engine, _ = rt.require()
    body = await schemas.read_json(request, rt.config.max_body_bytes)
    data_type = schemas.data_type(body)
    prompt = schemas.optional_str(body, "prompt", "")
    context_size = schemas.optional_int(body, "context_size", 0)
    window_size = schemas.optional_int(body, "window_size", 0)
    flash = schemas.flash_specs(body, DEFAULT_FLASH_TOKENS, MAX_FLASH_TOKENS)
    if len(flash) > MAX_FLASH_QUERIES:
        raise TooManyRequests(
            f"at most {MAX_FLASH_QUERIES} flash queries per session, got {len(flash)}",
            param="flash",
            code="max_flash_queries",
        )
    seen: set[str] = set()
    for i, (query, _tokens) in enumerate(flash):
        folded = " ".join(query.split())
        if folded in seen:
            message = f"flash query {query!r} is listed twice"
            raise Conflict(message, param=f"flash[{i}].query", code="duplicate_query")
        seen.add(folded)
    with rt.registry.reserve() as session_id:
        with core_errors():
            session = await asyncio.to_thread(
                engine.create_session, session_id, data_type, prompt, context_size, window_size, flash or None
            )
        rt.registry.add(session)
    state = session.state()
    return JSONResponse(
        {
            "session_id": session_id,
            "type": data_type,
            "n_tokens": views.as_int(session.n_prefix_tokens),
            "context_size": views.as_int(session.context_size),
            "window_size": views.as_int(session.window_size),
            "flash_queries": views.as_int(session.flash_count()),
            "pos_max": views.as_int(state.get("pos_max")),
        }
    )


async def list_sessions(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    items = [
        views.session_summary(session_id, entry, entry.session.state())
        for session_id, entry in rt.registry.entries()
    ]
    return JSONResponse({"sessions": items, "count": len(items), "max_sessions": rt.registry.max_sessions})


async def session_state(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    entry = rt.registry.touch(session_id)
    with core_errors():
        state = entry.session.state()
        text = entry.session.context_text()
    return JSONResponse(views.session_state(session_id, entry, state, text))


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
    return JSONResponse(
        {
            "n_tokens_added": views.as_int(result.get("n_tokens_added")),
            "total_tokens": views.as_int(result.get("total_tokens")),
            "pos_max": views.as_int(result.get("pos_max")),
        }
    )


async def mark_prefix(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry:
        await schemas.read_json(request, rt.config.max_body_bytes, empty_ok=True)
        with core_errors():
            result = await asyncio.to_thread(entry.session.mark_prefix)
    prefix_end = views.as_int(result.get("prefix_end"))
    frozen = views.as_int(result.get("n_records_frozen"))
    message = f"prefix marked: positions [0, {prefix_end}) are frozen"
    if frozen:
        message += f" ({frozen} records included)"
    return JSONResponse({"prefix_end": prefix_end, "message": message})


async def session_slots(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    session_id = request.path_params["session_id"]
    entry = rt.registry.touch(session_id)
    with core_errors():
        return JSONResponse(views.slots(entry.session.state(), entry.session.slots()))


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
