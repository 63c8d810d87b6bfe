"""``POST /v1/sessions/{id}/generate``: a cached flash answer, or a generation on the live context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streaminfer.server import schemas, views
from streaminfer.server.errors import ServiceUnavailable, core_errors
from streaminfer.server.hub import RequestWaiter
from streaminfer.server.runtime import get_runtime
from streaminfer.server.sse import EventStreamResponse, frame


def _failure(event: Mapping[str, Any]) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"generation failed: {views.as_str(event.get('message')) or 'unknown error'}", code="generate_failed"
    )


async def _wait_done(waiter: RequestWaiter, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            event = await asyncio.wait_for(waiter.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            message = f"generation did not finish within {timeout:g} s"
            raise ServiceUnavailable(message, code="timeout") from None
        if event.get("type") == "generate_done":
            return event
        if event.get("type") == "generate_error":
            raise _failure(event)


async def _stream_frames(waiter: RequestWaiter) -> AsyncIterator[bytes]:
    """``data: {"done": false, "token", "pos"}`` per token, then ``{"done": true, "text", "n_tokens"}``.

    On disconnect the response closes this iterator and cancels the request.
    """
    while True:
        event = await waiter.get()
        kind = event.get("type")
        if kind == "token":
            token = views.as_str(event.get("token"))
            yield frame({"done": False, "token": token, "pos": views.as_int(event.get("pos"))})
        elif kind == "generate_done":
            text = views.as_str(event.get("text"))
            yield frame({"done": True, "text": text, "n_tokens": views.as_int(event.get("n_tokens"))})
            return
        elif kind == "generate_error":
            yield frame(_failure(event).body(), "error")
            return


async def _cached_frames(result: Mapping[str, Any]) -> AsyncIterator[bytes]:
    yield frame({"done": True, "text": result["text"], "n_tokens": result["n_tokens"]})


async def generate(request: Request) -> Response | EventStreamResponse:
    rt = get_runtime(request)
    _, hub = rt.require()
    session_id = request.path_params["session_id"]
    with rt.registry.use(session_id) as entry:
        session = entry.session
        body = await schemas.read_json(request, rt.config.max_body_bytes)
        prompt = schemas.required_str(body, "prompt")
        max_tokens = schemas.optional_int(body, "max_tokens")
        stream = schemas.optional_bool(body, "stream", False)
        stop = schemas.optional_str_list(body, "stop")
        with core_errors(param="prompt"):
            cached = session.cached_answer(prompt)
        if cached is not None:
            result = views.cached_answer(cached, session.state())
            if stream:
                return EventStreamResponse(_cached_frames(result))
            return JSONResponse(result)
        with core_errors(param="prompt"):
            request_id = session.generate(prompt, max_tokens, stop)
        waiter = hub.watch(session_id, request_id)  # no await since generate(): no event missed

        def forget() -> None:
            # A client gone (or a timeout) stops the generation at its next
            # step; after it finished, cancel is a no-op.
            hub.unwatch(request_id)
            session.cancel(request_id)

        if stream:
            return EventStreamResponse(_stream_frames(waiter), on_close=forget)
        try:
            event = await _wait_done(waiter, rt.config.generate_timeout_s)
        finally:
            forget()
        return JSONResponse(views.generated(event))


routes = [Route("/v1/sessions/{session_id}/generate", generate, methods=["POST"])]
