"""Durable sessions over HTTP: save a checkpoint, export a session as one file, import one."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from streaminfer.server import responses as r
from streaminfer.server import session_file, views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import (
    ContextAllocFailed,
    ContextFull,
    InvalidRecord,
    InvalidSessionFile,
    KVMemoryExhausted,
    MaxSessions,
    NoStateDir,
    StateWriteFailed,
    core_errors,
    state_write_errors,
)
from streaminfer.server.runtime import get_runtime
from streaminfer.server.schemas import EmptyBody, read_body

SESSION_FILE_TYPE = "application/x-ndjson"


async def save_session(request: Request, body: EmptyBody) -> r.SessionSaved:
    """Write the session's checkpoint now, with its KV cache (the restart's fast path).

    Needs `--state-dir`. Pushed records are on disk as they are acknowledged;
    this writes the window and llama.cpp's state of the session's sequence,
    so that a restart loads the KV cache rather than decoding the window again.
    """
    rt = get_runtime(request)
    with rt.registry.use(request.path_params["session_id"]) as entry:
        if entry.store is None:
            raise NoStateDir("the server runs without --state-dir: sessions live in memory only")
        with core_errors(), state_write_errors():
            cp = await entry.store.checkpoint(entry.session, with_kv=True)
        return views.session_saved(cp, entry.store.log.disk_bytes())


async def export_session(request: Request) -> Response:
    """The session as one file: its configuration, flash queries and counters, then its window.

    JSON Lines (docs/api.md, "Session files"); `POST /v1/sessions/import`
    re-creates the session from it, here or on another server. The window is
    taken between two decode steps: records still queued are not in it.
    """
    rt = get_runtime(request)
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry, core_errors():
        cp = await asyncio.to_thread(entry.session.checkpoint)
        spec = entry.spec or session_file.SessionSpec(entry.session.data_type)
        data = session_file.write(session_id, spec, cp)
    return Response(
        data,
        media_type=SESSION_FILE_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{session_id}.jsonl"'},
    )


async def import_session(request: Request) -> r.SessionCreated:
    """Create a session from a session file (`GET .../export`), under a new id.

    Its flash queries keep their ids and are answered again on the window,
    which is decoded from its records.
    """
    rt = get_runtime(request)
    engine, _ = rt.require()
    raw = await read_body(request, rt.config.max_body_bytes)
    try:
        file = session_file.read(raw)
    except session_file.SessionFileError as exc:
        raise InvalidSessionFile(f"not a session file: {exc}") from None
    spec = file.spec
    kv_bytes = rt.session_kv_bytes(spec.context_size)
    with rt.registry.reserve(kv_bytes) as session_id:
        with core_errors(param="body"):
            checkpoint = file.checkpoint()
            session = await asyncio.to_thread(spec.create, engine, session_id, None, checkpoint)
        entry = rt.registry.add(session, kv_bytes)
        entry.spec = spec
    await rt.persist(entry)
    return views.session_created(session_id, session, session.state())


TAG = "sessions"
routes = [
    APIRoute(
        "POST", "/v1/sessions/{session_id}/save", save_session, tag=TAG, errors=[NoStateDir, StateWriteFailed]
    ),
    APIRoute("GET", "/v1/sessions/{session_id}/export", export_session, tag=TAG, produces=SESSION_FILE_TYPE),
    APIRoute(
        "POST",
        "/v1/sessions/import",
        import_session,
        tag=TAG,
        consumes=SESSION_FILE_TYPE,
        errors=[
            ContextAllocFailed,
            ContextFull,
            InvalidRecord,
            InvalidSessionFile,
            KVMemoryExhausted,
            MaxSessions,
            StateWriteFailed,
        ],
    ),
]
