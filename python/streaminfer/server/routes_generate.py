"""``POST /v1/sessions/{id}/generate``: a cached flash answer, or a generation on the live context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import (
    ContextFull,
    GenerateFailed,
    GenerateTimeout,
    TextTooLong,
    TooManyGenerates,
    core_errors,
)
from streaminfer.server.generations import start_generation, stream_events, stream_failure
from streaminfer.server.hub import RequestWaiter
from streaminfer.server.runtime import get_runtime
from streaminfer.server.schemas import GenerateBody, bounded_text, stop_list
from streaminfer.server.sse import PING, EventStreamResponse, frame


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
        max_tokens = body.get("max_tokens")
        gen = await start_generation(hub, rt.generate_slots, session, prompt, max_tokens, stop, "prompt")
        if stream:
            cfg = rt.config
            frames = _stream_frames(gen.waiter, cfg.sse_ping_interval_s, cfg.generate_timeout_s)
            return EventStreamResponse(frames, on_close=gen.forget)
        return views.generated(await gen.done(request, rt.config.generate_timeout_s))


routes = [
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/generate",
        generate,
        tag="generate",
        errors=[ContextFull, GenerateFailed, GenerateTimeout, TextTooLong, TooManyGenerates],
    )
]
