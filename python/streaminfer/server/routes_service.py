"""Service routes: health, models, and an internal view of the server's own counters."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streaminfer.server.errors import ServiceUnavailable
from streaminfer.server.runtime import get_runtime


async def health(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    try:
        rt.require()
    except ServiceUnavailable as exc:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"status": "ok", "model": rt.config.model_id})


async def models(request: Request) -> JSONResponse:
    rt = get_runtime(request)
    try:
        created = int(os.stat(rt.config.model_path).st_mtime)
    except OSError:
        created = 0
    model = {"id": rt.config.model_id, "object": "model", "created": created, "owned_by": "streaminfer"}
    return JSONResponse({"object": "list", "data": [model]})


async def server_stats(request: Request) -> JSONResponse:
    """What tests and operators need to see (subscribers, waiters): docs/api.md, "Service"."""
    rt = get_runtime(request)
    engine, hub = rt.require()
    return JSONResponse(
        {
            "sessions": len(rt.registry),
            "max_sessions": rt.registry.max_sessions,
            "subscribers": hub.subscriber_count(),
            "generate_waiters": hub.waiter_count(),
            "events_dispatched": hub.events_dispatched,
            "events_unrouted": hub.events_unrouted,
            "events_dropped": hub.dropped_count(),
            "engine": {"sessions": len(engine.session_ids()), "events_dropped": engine.events_dropped},
        }
    )


routes = [
    Route("/v1/health", health, methods=["GET"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/internal/stats", server_stats, methods=["GET"]),
]
