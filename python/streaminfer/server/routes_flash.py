"""Flash queries: register, list, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streaminfer.server import schemas, views
from streaminfer.server.errors import NotFound, core_errors
from streaminfer.server.runtime import get_runtime, touch_session


async def register_flash(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    with rt.registry.use(request.path_params["session_id"]) as entry:
        body = await schemas.read_json(request, rt.config.max_body_bytes)
        query = schemas.flash_query(body)
        max_tokens = schemas.optional_int(body, "max_tokens")
        with core_errors(param="query"):
            info = entry.session.register_flash(query, max_tokens)
        return JSONResponse(views.flash_registered(info, entry.session.flash_count()))


async def list_flash(request: Request) -> JSONResponse:
    entry = touch_session(request)
    with core_errors():
        items = [views.flash_query(item) for item in entry.session.list_flash()]
        version = entry.session.data_version()
    return JSONResponse(
        {"flash_queries": items, "queries": items, "count": len(items), "current_data_version": version}
    )


async def delete_flash(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    rt.require()
    raw_id: str = request.path_params["query_id"]
    with rt.registry.use(request.path_params["session_id"]) as entry:
        not_found = NotFound(f"flash query {raw_id!r} not found", param="query_id", code="query_not_found")
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 9:
            raise not_found
        with core_errors():
            deleted = entry.session.delete_flash(int(raw_id))
            remaining = entry.session.flash_count()
    if not deleted:
        raise not_found
    return JSONResponse({"success": True, "remaining": remaining})


routes = [
    Route("/v1/sessions/{session_id}/flash", register_flash, methods=["POST"]),
    Route("/v1/sessions/{session_id}/flash", list_flash, methods=["GET"]),
    Route("/v1/sessions/{session_id}/flash/{query_id}", delete_flash, methods=["DELETE"]),
]
