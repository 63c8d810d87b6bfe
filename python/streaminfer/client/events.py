"""Session events off the wire (SSE and WebSocket carry the same ``data``), and the SSE
subscription that reconnects with backoff when the stream drops."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse

from streaminfer.client.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    NotFoundError,
    status_error,
)
from streaminfer.client.routes import session_path
from streaminfer.client.transport import Call, RetryPolicy, connection_error, retry_delay
from streaminfer.client.types import Connected, DataUpdated, FlashAnswer, SessionError, SessionEvent

# Longer than the server's SSE ping interval (15 s by default): a silent connection is dead.
SSE_READ_TIMEOUT_S = 60.0
RECONNECT = RetryPolicy(max_retries=12, initial_delay=0.5, max_delay=8.0)
"""Reconnects tried in a row (about a minute and a half) before a subscription gives up."""


def session_event(data: Any) -> SessionEvent | None:
    """A session event's ``data`` as its type; None for a frame that is not one."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "flash_ready":
        return FlashAnswer(
            int(data["id"]),
            str(data["query"]),
            str(data["value"]),
            float(data["confidence"]),
            int(data["data_version"]),
            int(data["evaluated_at"]),
        )
    if kind == "data_updated":
        return DataUpdated(int(data["data_version"]), int(data["data_count"]), int(data["pos_next"]))
    if kind == "connected":
        return Connected(int(data["data_version"]), int(data["flash_queries"]))
    if kind == "error" and "message" in data and "code" not in data:
        return SessionError(str(data["message"]))
    return None


def _subscribe_call(session_id: str) -> Call[None]:
    return Call("GET", session_path(session_id, "/events"), lambda r: None, idempotent=True)


def _give_up_or_wait(
    error: APIError, attempt: int, connected_once: bool, policy: RetryPolicy
) -> float | None:
    """How long to wait before reconnecting, or None: the subscription ends (the session is
    gone after it had been reached), else raise."""
    if connected_once and isinstance(error, NotFoundError):
        return None
    delay = retry_delay(policy, _subscribe_call(""), attempt, error)
    if delay is None:
        raise error
    return delay


def iter_events(
    http: httpx.Client, session_id: str, policy: RetryPolicy = RECONNECT
) -> Iterator[SessionEvent]:
    """The session's events over SSE, reconnecting when the stream drops; a ``Connected``
    begins each connection. Ends when the session is deleted."""
    attempt, connected_once = 0, False
    timeout = httpx.Timeout(http.timeout.connect, read=SSE_READ_TIMEOUT_S)
    path = session_path(session_id, "/events")
    while True:
        error: APIError
        try:
            with connect_sse(http, "GET", path, timeout=timeout) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise status_error(source.response)
                connected_once, attempt = True, 0
                for sse in source.iter_sse():
                    event = session_event(json.loads(sse.data))
                    if event is not None:
                        yield event
            error = APIConnectionError("the event stream ended")  # deleted, or the server stopping
        except APIStatusError as exc:
            error = exc
        except httpx.TransportError as exc:
            error = connection_error(exc)
        delay = _give_up_or_wait(error, attempt, connected_once, policy)
        if delay is None:
            return
        attempt += 1
        time.sleep(delay)


async def aiter_events(
    http: httpx.AsyncClient, session_id: str, policy: RetryPolicy = RECONNECT
) -> AsyncIterator[SessionEvent]:
    """As ``iter_events``, for asyncio."""
    attempt, connected_once = 0, False
    timeout = httpx.Timeout(http.timeout.connect, read=SSE_READ_TIMEOUT_S)
    path = session_path(session_id, "/events")
    while True:
        error: APIError
        try:
            async with aconnect_sse(http, "GET", path, timeout=timeout) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    raise status_error(source.response)
                connected_once, attempt = True, 0
                async for sse in source.aiter_sse():
                    event = session_event(json.loads(sse.data))
                    if event is not None:
                        yield event
            error = APIConnectionError("the event stream ended")
        except APIStatusError as exc:
            error = exc
        except httpx.TransportError as exc:
            error = connection_error(exc)
        delay = _give_up_or_wait(error, attempt, connected_once, policy)
        if delay is None:
            return
        attempt += 1
        await asyncio.sleep(delay)
