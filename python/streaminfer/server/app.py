"""The application factory: routes, middleware, error handlers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from streaminfer.server import (
    metrics,
    openapi,
    routes_chat,
    routes_durable,
    routes_flash,
    routes_generate,
    routes_service,
    routes_sessions,
    routes_stream,
    ws,
)
from streaminfer.server.auth import APIKeyMiddleware
from streaminfer.server.config import ServerConfig
from streaminfer.server.errors import exception_handlers
from streaminfer.server.host_check import HostOriginMiddleware
from streaminfer.server.runtime import Announce, Runtime

if TYPE_CHECKING:
    from streaminfer._core import Engine


def create_app(
    config: ServerConfig,
    engine: Engine | None = None,
    *,
    announce: Announce | None = None,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> Starlette:
    """Build the app. Without ``engine`` it loads one from ``config.model_path`` at startup
    (and closes it at shutdown); a given engine is used as is and left open."""
    runtime = Runtime(config, engine, announce=announce, on_fatal=on_fatal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Not awaited: the server listens (health 503) while the model loads and warms up.
        starting = asyncio.ensure_future(runtime.start())
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await starting  # a load in progress cannot be interrupted; let it finish
            await runtime.stop()

    routes: list[BaseRoute] = [
        *routes_service.routes,
        *routes_sessions.routes,
        *routes_durable.routes,
        *routes_stream.routes,
        *routes_flash.routes,
        *routes_generate.routes,
        *routes_chat.routes,
        *ws.routes,
        *openapi.routes,
    ]
    middleware = [
        # Before the key check: a rebound or cross-site request is refused whatever it carries.
        Middleware(HostOriginMiddleware, allowed_hosts=config.hosts, allowed_origins=config.allowed_origins),
        Middleware(APIKeyMiddleware, api_keys=config.api_keys),
    ]
    registry = None
    if config.metrics:
        registry = metrics.create_registry(runtime)
        routes.append(metrics.route)
        # Outside the key check, so that refused requests are counted too.
        middleware.insert(0, Middleware(metrics.HTTPMetrics, registry=registry, routes=routes))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics_registry = registry
    return app
