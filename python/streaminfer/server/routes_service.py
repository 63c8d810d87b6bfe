"""Service routes: health, models, and an internal view of the server's own counters."""

from __future__ import annotations

import os

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server.api_route import APIRoute
from streaminfer.server.runtime import get_runtime


async def health(request: Request) -> r.Health:
    """Whether the engine is ready (503 while the model loads). Never needs a key."""
    return {"status": "ok", "model": get_runtime(request).config.model_id}


def model_card(request: Request) -> r.Model:
    """The served model in OpenAI's shape; ``created`` is the file's modification time."""
    rt = get_runtime(request)
    try:
        created = int(os.stat(rt.config.model_path).st_mtime)
    except OSError:
        created = 0
    return {"id": rt.config.model_id, "object": "model", "created": created, "owned_by": "streaminfer"}


async def models(request: Request) -> r.ModelList:
    """The served model, in OpenAI's shape. Answers while the model loads."""
    return {"object": "list", "data": [model_card(request)]}


async def server_stats(request: Request) -> r.ServerStats:
    """The server's own counters (subscribers, waiters), for operators and tests; its shape may change."""
    rt = get_runtime(request)
    engine, hub = rt.require()
    return {
        "sessions": len(rt.registry),
        "max_sessions": rt.registry.max_sessions,
        "subscribers": hub.subscriber_count(),
        "generate_waiters": hub.waiter_count(),
        "events_dispatched": hub.events_dispatched,
        "events_unrouted": hub.events_unrouted,
        "events_dropped": hub.events_dropped,
        "largest_backlog": hub.largest_backlog(),
        "engine": {"sessions": len(engine.session_ids()), "events_dropped": engine.events_dropped},
    }


TAG = "service"
routes = [
    APIRoute("GET", "/v1/health", health, tag=TAG),
    APIRoute("GET", "/v1/models", models, tag=TAG, needs_engine=False),
    APIRoute("GET", "/v1/internal/stats", server_stats, tag=TAG),
]
