"""A REST route whose handler's signature is its contract.

A handler is ``async def name(request, body: SomeBody) -> SomeResponse``:
the route reads the body and checks it against ``SomeBody`` (schemas.py)
before the handler runs, sends the ``TypedDict`` the handler returns as
JSON (an ``EventStreamResponse`` it returns is sent as is), and the OpenAPI document
(openapi.py) is written from the same annotations, the handler's docstring
and the errors the route declares. Nothing about a route is written twice.

Before the body is read, the route answers what does not depend on it, in
the order clients have always seen: 503 while the engine is not ready, then
404 for an unknown session.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streaminfer.server import schemas
from streaminfer.server.auth import EXEMPT_PATHS
from streaminfer.server.errors import (
    APIError,
    BodyTooLarge,
    EngineClosed,
    EngineNotReady,
    HostNotAllowed,
    InvalidAPIKey,
    InvalidField,
    InvalidJSON,
    MissingAPIKey,
    OriginNotAllowed,
    SessionNotFound,
    UnsupportedMediaType,
)
from streaminfer.server.runtime import get_runtime
from streaminfer.server.sse import EventStreamResponse

Handler = Callable[..., Awaitable[Any]]


def _members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


class APIRoute(Route):
    """One method on one path, described by its handler (see the module's text)."""

    def __init__(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        tag: str,
        errors: Sequence[type[APIError]] = (),
        needs_engine: bool = True,
        name: str | None = None,
        produces: str | None = None,
        consumes: str | None = None,
    ) -> None:
        hints = typing.get_type_hints(handler)
        returned = _members(hints.get("return"))
        self.handler = handler
        self.tag = tag
        self.body_shape: type | None = hints.get("body")
        self.response_shapes = [tp for tp in returned if typing.is_typeddict(tp)]
        self.streams = EventStreamResponse in returned
        self.produces = produces  # the media type of a handler that returns a plain Response
        self.consumes = consumes  # the media type of a body the handler reads itself
        self.needs_engine = needs_engine
        self.in_session = "{session_id}" in path
        self.errors = self._all_errors(path, errors)
        doc = (handler.__doc__ or "").strip()
        self.summary, _, rest = doc.partition("\n")
        self.description = rest.strip()
        super().__init__(path, self._endpoint, methods=[method], name=name or handler.__name__)

    @property
    def method(self) -> str:
        return next(m for m in self.methods or () if m != "HEAD")

    def _all_errors(self, path: str, declared: Sequence[type[APIError]]) -> list[type[APIError]]:
        """The route's own errors and those that follow from what it is."""
        errors = [*declared, HostNotAllowed, OriginNotAllowed]
        if path not in EXEMPT_PATHS:
            errors += [MissingAPIKey, InvalidAPIKey]
        if self.needs_engine:
            errors += [EngineNotReady, EngineClosed]
        if self.in_session:
            errors.append(SessionNotFound)
        if self.body_shape is not None:
            errors += [InvalidJSON, BodyTooLarge, InvalidField, UnsupportedMediaType]
        if self.consumes is not None:
            errors.append(BodyTooLarge)
        return sorted(set(errors), key=lambda cls: (cls.status_code, cls.code))

    async def _endpoint(self, request: Request) -> Response | EventStreamResponse:
        rt = get_runtime(request)
        if self.needs_engine:
            rt.require()
        if self.in_session:
            rt.registry.get(request.path_params["session_id"])
        if self.body_shape is None:
            result = await self.handler(request)
        else:
            body: Any = await schemas.body(request, self.body_shape, rt.config.max_body_bytes)
            result = await self.handler(request, body)
        return JSONResponse(result) if isinstance(result, dict) else result
