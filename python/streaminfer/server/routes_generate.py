"""``POST /v1/sessions/{id}/generate``: a cached flash answer, or a generation on the live context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import ContextFull, GenerateFailed, GenerateTimeout, TextTooLong, core_errors
from streaminfer.server.hub import EventHub, RequestWaiter
from streaminfer.server.runtime import get_runtime
from streaminfer.server.schemas import GenerateBody, bounded_text, stop_list
from streaminfer.server.sse import PING, EventStreamResponse, frame

if TYPE_CHECKING:
    from streaminfer._core import Session


def failure(event: Mapping[str, Any]) -> GenerateFailed:
    return GenerateFailed(f"generation failed: {views.as_str(event.get('message')) or 'unknown error'}")


async def _wait_done(waiter: RequestWaiter, timeout: float) -> dict[str, Any]:
    """The ``generate_done`` event; 503 on a ``generate_error`` or when ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            event = await asyncio.wait_for(waiter.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            message = f"generation did not finish within {timeout:g} s"
            raise GenerateTimeout(message) from None
        if event.get("type") == "generate_done":
            return event
        if event.get("type") == "generate_error":
            raise failure(event)


async def stream_events(
    waiter: RequestWaiter, ping_interval: float, timeout: float
) -> AsyncIterator[dict[str, Any] | None]:
    """A streamed request's events, ``None`` after each ``ping_interval`` of silence (a keep-alive),
    and a ``generate_error`` of its own after ``timeout`` of silence (then nothing more)."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        wait = min(ping_interval, last + timeout - loop.time())
        try:
            event = await asyncio.wait_for(waiter.get(), max(0.0, wait))
        except asyncio.TimeoutError:
            if loop.time() - last >= timeout:
                yield {"type": "generate_error", "timed_out": True}
                return
            yield None
            continue
        last = loop.time()
        yield event


def stream_failure(event: Mapping[str, Any], timeout: float) -> GenerateFailed | GenerateTimeout:
    if event.get("timed_out"):
        return GenerateTimeout(f"no token within {timeout:g} s; the generation was cancelled")
    return failure(event)


async def _stream_frames(waiter: RequestWaiter, ping_interval: float, timeout: float) -> AsyncIterator[bytes]:
    """``data: {"done": false, "token", "pos"}`` per token, then ``{"done": true, "text", "n_tokens"}``.

    On disconnect the response closes this iterator and cancels the request.
    """
    async for event in stream_events(waiter, ping_interval, timeout):
        if event is None:
            yield PING
            continue
        kind = event.get("type")
        if kind == "token":
            token = views.as_str(event.get("token"))
            yield frame({"done": False, "token": token, "pos": views.as_int(event.get("pos"))})
        elif kind == "generate_done":
            text = views.as_str(event.get("text"))
            yield frame({"done": True, "text": text, "n_tokens": views.as_int(event.get("n_tokens"))})
            return
        elif kind == "generate_error":
            yield frame(stream_failure(event, timeout).body(), "error")
            return


async def _cached_frames(result: r.Generated) -> AsyncIterator[bytes]:
    yield frame({"done": True, "text": result["text"], "n_tokens": result["n_tokens"]})


class Generation:
    """A question the core is answering: its events, and ``forget`` to stop it.

    ``forget`` runs when the answer was read, or its client went away (a
    timeout too): the generation stops at its next step; after it finished,
    cancelling is a no-op.
    """

    def __init__(self, hub: EventHub, session_id: str, session: Session, request_id: int) -> None:
        self.waiter = hub.watch(session_id, request_id)
        self._hub, self._session, self._id = hub, session, request_id

    def forget(self) -> None:
        self._hub.unwatch(self._id)
        self._session.cancel(self._id)

    async def done(self, timeout: float) -> dict[str, Any]:
        """The ``generate_done`` event (503 on failure or timeout)."""
        try:
            return await _wait_done(self.waiter, timeout)
        finally:
            self.forget()


async def start_generation(
    hub: EventHub,
    session_id: str,
    session: Session,
    prompt: str,
    max_tokens: int | None,
    stop: list[str] | None,
    param: str,
) -> Generation:
    """Queue the question. The core tokenizes it with the GIL released, on a worker thread,
    so the loop goes on serving meanwhile; the hub keeps the events that come first."""
    bounded_text(prompt, param)
    with hub.starting():
        with core_errors(param=param):
            request_id = await asyncio.to_thread(session.generate, prompt, max_tokens, stop)
        return Generation(hub, session_id, session, request_id)


async def generate(request: Request, body: GenerateBody) -> r.Generated | EventStreamResponse:
    """Answer a question against the live window.

    A question that is a fresh flash query's (whitespace folded) is answered
    from its cached answer. Otherwise the question is decoded after the
    window on a copy of the context, and only its tokens cost time. With
    `stream` true the answer comes as Server-Sent Events:
    `data: {"done": false, "token": string, "pos": integer}` per token
    (`GenerateToken`), then `data: {"done": true, "text": string, "n_tokens": integer}`
    (`GenerateDone`); a failure is an `error` event whose data is the error body.
    """
    rt = get_runtime(request)
    _, hub = rt.require()
    session_id = request.path_params["session_id"]
    prompt, stream = body["prompt"], body.get("stream", False)
    with rt.registry.use(session_id) as entry:
        session = entry.session
        with core_errors(param="prompt"):
            cached = session.cached_answer(bounded_text(prompt, "prompt"))
        if cached is not None:
            result = views.cached_answer(cached, session.state())
            return EventStreamResponse(_cached_frames(result)) if stream else result
        stop = stop_list(body.get("stop"))
        gen = await start_generation(hub, session_id, session, prompt, body.get("max_tokens"), stop, "prompt")
        if stream:
            cfg = rt.config
            frames = _stream_frames(gen.waiter, cfg.sse_ping_interval_s, cfg.generate_timeout_s)
            return EventStreamResponse(frames, on_close=gen.forget)
        return views.generated(await gen.done(rt.config.generate_timeout_s))


routes = [
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/generate",
        generate,
        tag="generate",
        errors=[ContextFull, GenerateFailed, GenerateTimeout, TextTooLong],
    )
]
