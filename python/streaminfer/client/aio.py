"""``AsyncClient``: the server's REST routes as typed methods, over httpx, for asyncio.

The same calls as ``Client`` (``routes``), awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse

from streaminfer.client import routes
from streaminfer.client.errors import APIError, status_error
from streaminfer.client.events import RECONNECT, aiter_events
from streaminfer.client.streams import AsyncStream, StreamOptions
from streaminfer.client.transport import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT_S,
    Call,
    RetryPolicy,
    connection_error,
    request_kwargs,
    retry_delay,
    settings,
    was_sent,
)
from streaminfer.client.types import (
    Appended,
    ChatCompletion,
    FlashDeleted,
    FlashList,
    FlashRegistered,
    Generated,
    GenerateDone,
    GenerateToken,
    Health,
    Model,
    PrefixMarked,
    PushResult,
    ServerStats,
    SessionCreated,
    SessionEvent,
    SessionList,
    SessionSaved,
    SessionState,
    Slots,
    StreamStatus,
    WindowStats,
)

T = TypeVar("T")


class AsyncClient:
    """A streaminfer server. ``base_url`` and ``api_key`` default to STREAMINFER_BASE_URL
    (else http://127.0.0.1:8080) and STREAMINFER_API_KEY. Idempotent calls are sent again
    on a lost answer or a busy server, as ``retry`` says; every call raises an ``APIError``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.base_url, headers = settings(base_url, api_key)
        self._headers = headers
        self.retry = retry
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    async def send(self, call: Call[T]) -> T:
        """Send one request, again after a failure ``retry`` allows."""
        attempt = 0
        while True:
            sent = True
            try:
                response = await self._http.request(call.method, call.path, **request_kwargs(call))
                if response.status_code < 400:
                    return call.parse(response)
                error: APIError = status_error(response)
            except httpx.TransportError as exc:
                error, sent = connection_error(exc), was_sent(exc)
            delay = retry_delay(self.retry, call, attempt, error, sent)
            if delay is None:
                raise error
            attempt += 1
            await asyncio.sleep(delay)

    # -- service --------------------------------------------------------------------------
    async def health(self) -> Health:
        return await self.send(routes.health())

    async def models(self) -> list[Model]:
        return await self.send(routes.models())

    async def server_stats(self) -> ServerStats:
        return await self.send(routes.server_stats())

    async def metrics(self) -> str:
        """The Prometheus text of ``GET /metrics``."""
        return await self.send(routes.metrics())

    # -- sessions -------------------------------------------------------------------------
    async def create_session(
        self,
        type: str,
        flash: Sequence[str | Mapping[str, Any]] = (),
        *,
        prompt: str | None = None,
        context_size: int | None = None,
        window_size: int | None = None,
    ) -> AsyncRemoteSession:
        """A new session of a record type with standing questions (strings, or
        ``{"query": ..., "max_tokens": ...}``). Its answer is ``RemoteSession.created``."""
        created = await self.send(routes.create_session(type, flash, prompt, context_size, window_size))
        return AsyncRemoteSession(self, created.session_id, created)

    def session(self, session_id: str) -> AsyncRemoteSession:
        """A handle on an existing session (no request is made)."""
        return AsyncRemoteSession(self, session_id)

    async def sessions(self) -> SessionList:
        return await self.send(routes.list_sessions())

    async def import_session(self, data: bytes) -> AsyncRemoteSession:
        """A new session from a session file (``RemoteSession.export``)."""
        created = await self.send(routes.import_session(data))
        return AsyncRemoteSession(self, created.session_id, created)

    async def chat(
        self, session_id: str, messages: Sequence[Mapping[str, str]], max_tokens: int | None = None
    ) -> ChatCompletion:
        """OpenAI's chat completion onto a session (its last message is the question)."""
        return await self.send(routes.chat(session_id, messages, max_tokens))

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncRemoteSession:
    """A session on the server, by id."""

    def __init__(self, client: AsyncClient, session_id: str, created: SessionCreated | None = None) -> None:
        self.client = client
        self.id = session_id
        self.created = created

    async def state(self) -> SessionState:
        return await self.client.send(routes.state(self.id))

    async def delete(self) -> None:
        await self.client.send(routes.delete(self.id))

    async def append(self, text: str) -> Appended:
        return await self.client.send(routes.append(self.id, text))

    async def mark_prefix(self) -> PrefixMarked:
        return await self.client.send(routes.mark_prefix(self.id))

    async def slots(self) -> Slots:
        return await self.client.send(routes.slots(self.id))

    async def save(self) -> SessionSaved:
        return await self.client.send(routes.save(self.id))

    async def export(self) -> bytes:
        return await self.client.send(routes.export(self.id))

    async def push(self, records: Sequence[Mapping[str, Any]]) -> PushResult:
        """Queue records (never sent twice: a push lost in transit raises)."""
        return await self.client.send(routes.push(self.id, records))

    async def status(self) -> StreamStatus:
        return await self.client.send(routes.status(self.id))

    async def stats(self) -> WindowStats:
        return await self.client.send(routes.stats(self.id))

    async def add_flash(self, query: str, max_tokens: int | None = None) -> FlashRegistered:
        return await self.client.send(routes.add_flash(self.id, query, max_tokens))

    async def flash(self) -> FlashList:
        return await self.client.send(routes.list_flash(self.id))

    async def remove_flash(self, query_id: int) -> FlashDeleted:
        return await self.client.send(routes.remove_flash(self.id, query_id))

    async def generate(
        self, prompt: str, *, max_tokens: int | None = None, stop: Sequence[str] | None = None
    ) -> Generated:
        return await self.client.send(routes.generate(self.id, prompt, max_tokens, stop))

    async def generate_stream(
        self, prompt: str, *, max_tokens: int | None = None, stop: Sequence[str] | None = None
    ) -> AsyncIterator[GenerateToken | GenerateDone]:
        """The answer token by token, then ``GenerateDone``. Not sent again on failure."""
        body = routes.generate_body(prompt, max_tokens, stop, True)
        path = routes.session_path(self.id, "/generate")
        try:
            async with aconnect_sse(self.client._http, "POST", path, json=body) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    raise status_error(source.response)
                async for sse in source.aiter_sse():
                    yield routes.generate_frame(sse.event, sse.json())
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc

    def events(self, reconnect: RetryPolicy = RECONNECT) -> AsyncIterator[SessionEvent]:
        """Events over SSE (``Connected``, ``DataUpdated``, ``FlashAnswer``, ``SessionError``),
        reconnecting with backoff when the stream drops; ends when the session is deleted."""
        return aiter_events(self.client._http, self.id, reconnect)

    def stream(self, options: StreamOptions | None = None) -> AsyncStream:
        """A WebSocket that pushes records and yields events, reconnecting on its own
        (``StreamOptions`` says how, and what happens to records pushed meanwhile)."""
        return AsyncStream(self.client.base_url, self.client._headers, self.id, options or StreamOptions())


__all__ = ["AsyncClient", "AsyncRemoteSession"]
