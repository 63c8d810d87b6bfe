"""Session lifecycle: init, list, state, delete, append, mark_prefix, slots."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import (
    ContextAllocFailed,
    ContextFull,
    DuplicateQuery,
    KVMemoryExhausted,
    MaxFlashQueries,
    MaxSessions,
    StateWriteFailed,
    TextTooLong,
    core_errors,
)
from streaminfer.server.runtime import checkpoint_change, get_runtime, touch_session
from streaminfer.server.schemas import AppendBody, EmptyBody, InitBody, bounded_text, flash_specs
from streaminfer.server.session_file import SessionSpec


async def init_session(request: Request, body: InitBody) -> r.SessionCreated:
    """Create a session.

    Its prefix (system prompt and the type's header line) is decoded once,
    now; its window is then filled by pushes.
    """
    rt = get_runtime(request)
    engine, _ = rt.require()
    flash = flash_specs(body.get("flash", []))
    spec = SessionSpec(
        body["type"],
        bounded_text(body.get("prompt", ""), "prompt"),
        body.get("context_size", 0),
        body.get("window_size", 0),
    )
    kv_bytes = rt.session_kv_bytes(spec.context_size)
    with rt.registry.reserve(kv_bytes) as session_id:
        with core_errors():
            session = await asyncio.to_thread(spec.create, engine, session_id, flash or None)
        entry = rt.registry.add(session, kv_bytes)
        entry.spec = spec
    await rt.persist(entry)
    return views.session_created(session_id, session, session.state())


async def list_sessions(request: Request) -> r.SessionList:
    """List the sessions."""
    rt = get_runtime(request)
    items = [
        views.session_summary(session_id, entry, entry.session.state())
        for session_id, entry in rt.registry.entries()
    ]
    return views.session_list(items, rt.registry.max_sessions)


async def session_state(request: Request) -> r.SessionState:
    """A session's context: where its prefix, data and free space stand, and its text."""
    entry = touch_session(request)
    with core_errors():
        state = entry.session.state()
        text = entry.session.context_text()
    return views.session_state(request.path_params["session_id"], entry, state, text)


async def delete_session(request: Request) -> r.Success:
    """Delete a session.

    Its SSE streams and WebSockets end, its generations stop, its KV memory is freed.
    """
    await get_runtime(request).drop_session(request.path_params["session_id"], "the session was deleted")
    return {"success": True}


async def append_text(request: Request, body: AppendBody) -> r.Appended:
    """Decode text into the context after the data (it is not a record)."""
    rt = get_runtime(request)
    with rt.registry.use(request.path_params["session_id"]) as entry:
        with core_errors(param="text"):
            result = await asyncio.to_thread(entry.session.append_text, bounded_text(body["text"], "text"))
        await checkpoint_change(entry)
    return views.appended(result)


async def mark_prefix(request: Request, body: EmptyBody) -> r.PrefixMarked:
    """Freeze the context so far into the prefix: it never slides out."""
    rt = get_runtime(request)
    with rt.registry.use(request.path_params["session_id"]) as entry:
        with core_errors():
            mark = await asyncio.to_thread(entry.session.mark_prefix)
        await checkpoint_change(entry)
    return views.prefix_marked(mark)


async def session_slots(request: Request) -> r.Slots:
    """The context's three regions: prefix, data and free."""
    entry = touch_session(request)
    with core_errors():
        return views.slots(entry.session.state())


TAG = "sessions"
routes = [
    APIRoute(
        "POST",
        "/v1/sessions/init",
        init_session,
        tag=TAG,
        errors=[
            ContextAllocFailed,
            ContextFull,
            DuplicateQuery,
            KVMemoryExhausted,
            MaxFlashQueries,
            MaxSessions,
            StateWriteFailed,
            TextTooLong,
        ],
    ),
    APIRoute("GET", "/v1/sessions", list_sessions, tag=TAG),
    APIRoute("GET", "/v1/sessions/{session_id}/state", session_state, tag=TAG),
    APIRoute("GET", "/v1/sessions/{session_id}", session_state, tag=TAG, name="session"),  # as .../state
    APIRoute("DELETE", "/v1/sessions/{session_id}", delete_session, tag=TAG),
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/append",
        append_text,
        tag=TAG,
        errors=[ContextFull, StateWriteFailed, TextTooLong],
    ),
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/mark_prefix",
        mark_prefix,
        tag=TAG,
        errors=[ContextFull, StateWriteFailed],
    ),
    APIRoute("GET", "/v1/sessions/{session_id}/slots", session_slots, tag=TAG),
]
