"""``Client``: the server's REST routes as typed methods, over httpx, blocking."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from httpx_sse import connect_sse

from streaminfer.client import routes
from streaminfer.client.errors import APIError, status_error
from streaminfer.client.events import RECONNECT, iter_events
from streaminfer.client.streams import StreamOptions, SyncStream
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


class Client:
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
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def send(self, call: Call[T]) -> T:
        """Send one request, again after a failure ``retry`` allows."""
        attempt = 0
        while True:
            sent = True
            try:
                response = self._http.request(call.method, call.path, **request_kwargs(call))
                if response.status_code < 400:
                    return call.parse(response)
                error: APIError = status_error(response)
            except httpx.TransportError as exc:
                error, sent = connection_error(exc), was_sent(exc)
            delay = retry_delay(self.retry, call, attempt, error, sent)
            if delay is None:
                raise error
            attempt += 1
            time.sleep(delay)

    # -- service --------------------------------------------------------------------------
    def health(self) -> Health:
        return self.send(routes.health())

    def models(self) -> list[Model]:
        return self.send(routes.models())

    def server_stats(self) -> ServerStats:
        return self.send(routes.server_stats())

    def metrics(self) -> str:
        """The Prometheus text of ``GET /metrics``."""
        return self.send(routes.metrics())

    # -- sessions -------------------------------------------------------------------------
    def create_session(
        self,
        type: str,
        flash: Sequence[str | Mapping[str, Any]] = (),
        *,
        prompt: str | None = None,
        context_size: int | None = None,
        window_size: int | None = None,
    ) -> RemoteSession:
        """A new session of a record type with standing questions (strings, or
        ``{"query": ..., "max_tokens": ...}``). Its answer is ``RemoteSession.created``."""
        created = self.send(routes.create_session(type, flash, prompt, context_size, window_size))
        return RemoteSession(self, created.session_id, created)

    def session(self, session_id: str) -> RemoteSession:
        """A handle on an existing session (no request is made)."""
        return RemoteSession(self, session_id)

    def sessions(self) -> SessionList:
        return self.send(routes.list_sessions())

    def import_session(self, data: bytes) -> RemoteSession:
        """A new session from a session file (``RemoteSession.export``)."""
        created = self.send(routes.import_session(data))
        return RemoteSession(self, created.session_id, created)

    def chat(
        self, session_id: str, messages: Sequence[Mapping[str, str]], max_tokens: int | None = None
    ) -> ChatCompletion:
        """OpenAI's chat completion onto a session (its last message is the question)."""
        return self.send(routes.chat(session_id, messages, max_tokens))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteSession:
    """A session on the server, by id."""

    def __init__(self, client: Client, session_id: str, created: SessionCreated | None = None) -> None:
        self.client = client
        self.id = session_id
        self.created = created

    def state(self) -> SessionState:
        return self.client.send(routes.state(self.id))

    def delete(self) -> None:
        self.client.send(routes.delete(self.id))

    def append(self, text: str) -> Appended:
        return self.client.send(routes.append(self.id, text))

    def mark_prefix(self) -> PrefixMarked:
        return self.client.send(routes.mark_prefix(self.id))

    def slots(self) -> Slots:
        return self.client.send(routes.slots(self.id))

    def save(self) -> SessionSaved:
        return self.client.send(routes.save(self.id))

    def export(self) -> bytes:
        return self.client.send(routes.export(self.id))

    def push(self, records: Sequence[Mapping[str, Any]]) -> PushResult:
        """Queue records (never sent twice: a push lost in transit raises)."""
        return self.client.send(routes.push(self.id, records))

    def status(self) -> StreamStatus:
        return self.client.send(routes.status(self.id))

    def stats(self) -> WindowStats:
        return self.client.send(routes.stats(self.id))

    def add_flash(self, query: str, max_tokens: int | None = None) -> FlashRegistered:
        return self.client.send(routes.add_flash(self.id, query, max_tokens))

    def flash(self) -> FlashList:
        return self.client.send(routes.list_flash(self.id))

    def remove_flash(self, query_id: int) -> FlashDeleted:
        return self.client.send(routes.remove_flash(self.id, query_id))

    def generate(
        self, prompt: str, *, max_tokens: int | None = None, stop: Sequence[str] | None = None
    ) -> Generated:
        return self.client.send(routes.generate(self.id, prompt, max_tokens, stop))

    def generate_stream(
        self, prompt: str, *, max_tokens: int | None = None, stop: Sequence[str] | None = None
    ) -> Iterator[GenerateToken | GenerateDone]:
        """The answer token by token, then ``GenerateDone``. Not sent again on failure."""
        body = routes.generate_body(prompt, max_tokens, stop, True)
        path = routes.session_path(self.id, "/generate")
        try:
            with connect_sse(self.client._http, "POST", path, json=body) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise status_error(source.response)
                for sse in source.iter_sse():
                    yield routes.generate_frame(sse.event, sse.json())
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc

    def events(self, reconnect: RetryPolicy = RECONNECT) -> Iterator[SessionEvent]:
        """Events over SSE (``Connected``, ``DataUpdated``, ``FlashAnswer``, ``SessionError``),
        reconnecting with backoff when the stream drops; ends when the session is deleted."""
        return iter_events(self.client._http, self.id, reconnect)

    def stream(self, options: StreamOptions | None = None) -> SyncStream:
        """A WebSocket that pushes records and yields events, reconnecting on its own
        (``StreamOptions`` says how, and what happens to records pushed meanwhile)."""
        return SyncStream(self.client.base_url, self.client._headers, self.id, options or StreamOptions())


__all__ = ["Client", "RemoteSession"]
