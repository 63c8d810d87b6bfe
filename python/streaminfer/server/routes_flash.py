"""Flash queries: register, list, delete."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import (
    ContextFull,
    DuplicateQuery,
    MaxFlashQueries,
    QueryNotFound,
    StateWriteFailed,
    TextTooLong,
    core_errors,
)
from streaminfer.server.runtime import checkpoint_change, get_runtime, touch_session
from streaminfer.server.schemas import FlashSpec, bounded_text


async def register_flash(request: Request, body: FlashSpec) -> r.FlashRegistered:
    """Register a flash query: a standing question, answered again after every data batch."""
    rt = get_runtime(request)
    with rt.registry.use(request.path_params["session_id"]) as entry:
        with core_errors(param="query"):
            query = bounded_text(body["query"], "query")
            # Off the loop: the core tokenizes the query with the GIL released.
            info = await asyncio.to_thread(entry.session.register_flash, query, body.get("max_tokens"))
        await checkpoint_change(entry)
        return views.flash_registered(info, entry.session.flash_count())


async def list_flash(request: Request) -> r.FlashList:
    """The session's flash queries with their latest answers."""
    entry = touch_session(request)
    with core_errors():
        items = [views.flash_query(item) for item in entry.session.list_flash()]
        version = entry.session.data_version()
    return views.flash_list(items, version)


async def delete_flash(request: Request) -> r.FlashDeleted:
    """Delete a flash query."""
    rt = get_runtime(request)
    raw_id: str = request.path_params["query_id"]
    with rt.registry.use(request.path_params["session_id"]) as entry:
        not_found = QueryNotFound(f"flash query {raw_id!r} not found", param="query_id")
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 9:
            raise not_found
        with core_errors():
            deleted = entry.session.delete_flash(int(raw_id))
            remaining = entry.session.flash_count()
        if deleted:
            await checkpoint_change(entry)
    if not deleted:
        raise not_found
    return {"success": True, "remaining": remaining}


TAG = "flash queries"
routes = [
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/flash",
        register_flash,
        tag=TAG,
        errors=[ContextFull, DuplicateQuery, MaxFlashQueries, StateWriteFailed, TextTooLong],
    ),
    APIRoute("GET", "/v1/sessions/{session_id}/flash", list_flash, tag=TAG),
    APIRoute(
        "DELETE",
        "/v1/sessions/{session_id}/flash/{query_id}",
        delete_flash,
        tag=TAG,
        errors=[QueryNotFound, StateWriteFailed],
    ),
]
