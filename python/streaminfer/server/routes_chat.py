"""``POST /v1/chat/completions``: OpenAI's chat API onto a live session.

The request names a session, by ``model`` or by an ``x-session-id`` header;
its last message, the user's, is the question, answered against the
session's live window exactly as ``/generate`` answers it (a fresh flash
query's cached answer included). The session's prompt is fixed at init, so
system messages are refused rather than ignored.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.config import ServerConfig
from streaminfer.server.errors import (
    ContextFull,
    GenerateFailed,
    GenerateTimeout,
    InvalidField,
    ModelNotFound,
    SessionNotFound,
    SessionRequired,
    TextTooLong,
    TooManyGenerates,
    core_errors,
)
from streaminfer.server.generations import Generation, start_generation, stream_events, stream_failure
from streaminfer.server.runtime import Runtime, get_runtime
from streaminfer.server.schemas import ChatBody, ChatMessage, bounded_text, stop_list
from streaminfer.server.sse import PING, EventStreamResponse, dumps

SESSION_HEADER = "x-session-id"


def _session_id(rt: Runtime, request: Request, model: str) -> tuple[str, str]:
    """(the session id, the request field that named it); 400/404 when there is none."""
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        if model not in (header, rt.config.model_id):
            raise ModelNotFound(
                f"model {model!r} is neither this server's model ({rt.config.model_id!r}) nor the session "
                f"named by {SESSION_HEADER}",
                param="model",
            )
        return header, SESSION_HEADER
    if model.startswith("sess_"):
        return model, "model"
    raise SessionRequired(
        f'name the session to answer against: "model": "sess_…", or the header {SESSION_HEADER}',
        param="model",
    )


def _question(messages: list[ChatMessage]) -> str:
    """The last message's text, once no message is a system message and the last is the user's."""
    if not messages:
        raise InvalidField("messages: at least one message (the question) is required", param="messages")
    for i, message in enumerate(messages):
        if message["role"] in ("system", "developer"):
            raise InvalidField(
                f"messages[{i}]: {message['role']} messages are not accepted: the session's prompt is fixed "
                "at init (POST /v1/sessions/init)",
                param=f"messages[{i}].role",
            )
    last = len(messages) - 1
    if messages[last]["role"] != "user":
        raise InvalidField(
            f"messages[{last}]: the last message must be the user's question", param=f"messages[{last}].role"
        )
    content = messages[last].get("content", "")
    text = content if isinstance(content, str) else "".join(part["text"] for part in content)
    if not text.strip():
        raise InvalidField(
            f"messages[{last}].content: the question is empty", param=f"messages[{last}].content"
        )
    return text


async def _chunks(gen: Generation, head: views.ChatHead, config: ServerConfig) -> AsyncIterator[bytes]:
    """OpenAI's stream: a role chunk, a content chunk per token, a finish chunk, then ``[DONE]``;
    ``: ping`` comment lines while it waits."""
    yield _data(views.chat_chunk(head, {"role": "assistant", "content": ""}, None))
    timeout = config.generate_timeout_s
    async for event in stream_events(gen.waiter, config.sse_ping_interval_s, timeout):
        if event is None:
            yield PING
            continue
        kind = event.get("type")
        if kind == "token":
            yield _data(views.chat_chunk(head, {"content": views.as_str(event.get("token"))}, None))
        elif kind == "generate_done":
            yield _data(views.chat_chunk(head, {}, views.finish_reason(event)))
            yield b"data: [DONE]\n\n"
            return
        elif kind == "generate_error":
            yield _data(stream_failure(event, timeout).body())
            return


async def _cached_chunks(answer: r.ChatCompletion, head: views.ChatHead) -> AsyncIterator[bytes]:
    choice = answer["choices"][0]
    yield _data(views.chat_chunk(head, {"role": "assistant", "content": choice["message"]["content"]}, None))
    yield _data(views.chat_chunk(head, {}, choice["finish_reason"]))
    yield b"data: [DONE]\n\n"


def _data(payload: Any) -> bytes:
    return f"data: {dumps(payload)}\n\n".encode()


async def chat_completions(request: Request, body: ChatBody) -> r.ChatCompletion | EventStreamResponse:
    """Answer the last user message against a session's live window (OpenAI's chat API).

    Name the session with `"model": "sess_…"`, or with the model's id and an
    `x-session-id` header. Earlier messages are not part of the context: the
    question is answered against the window alone, and system messages are
    refused (the session's prompt is fixed). A fresh flash query's answer is
    served from its cache. With `stream` true the answer comes as OpenAI's
    Server-Sent Events: `data:` lines of `ChatCompletionChunk`, then
    `data: [DONE]`; a failure is a `data:` line with the error body.
    """
    rt = get_runtime(request)
    _, hub = rt.require()
    session_id, named_by = _session_id(rt, request, body["model"])
    question = _question(body["messages"])
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    stream = body.get("stream", False)
    try:
        rt.registry.get(session_id)
    except SessionNotFound as exc:
        exc.param = named_by
        raise
    param = f"messages[{len(body['messages']) - 1}].content"
    with rt.registry.use(session_id) as entry:
        session = entry.session
        head = views.ChatHead("chatcmpl-" + secrets.token_hex(12), int(time.time()), session_id)
        with core_errors(param=param):
            cached = session.cached_answer(bounded_text(question, param))
        if cached is not None:
            answer = views.chat_cached(head, cached)
            return EventStreamResponse(_cached_chunks(answer, head)) if stream else answer
        stop = stop_list(body.get("stop"))
        gen = await start_generation(hub, rt.generate_slots, session, question, max_tokens, stop, param)
        if stream:
            return EventStreamResponse(_chunks(gen, head, rt.config), on_close=gen.forget)
        return views.chat_generated(head, await gen.done(request, rt.config.generate_timeout_s))


routes = [
    APIRoute(
        "POST",
        "/v1/chat/completions",
        chat_completions,
        tag="openai",
        errors=[
            ContextFull,
            GenerateFailed,
            GenerateTimeout,
            ModelNotFound,
            SessionNotFound,
            SessionRequired,
            TextTooLong,
            TooManyGenerates,
        ],
    )
]
