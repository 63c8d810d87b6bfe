"""``stream()``: one WebSocket that pushes records and yields the session's events, and
comes back by itself when the connection drops.

Reconnecting is websockets' own (``async for ws in connect(...)``: exponential
backoff with jitter; a refused handshake of 5xx, a refused connection or a
timeout is tried again, anything else ends the stream with its error). A new
socket is a new subscription: ``Connected`` begins each, and events between two
connections are not replayed. Records pushed while disconnected wait in the
stream's buffer (``StreamOptions.buffer_size`` records, pending and
unacknowledged together); past it they are dropped and counted, or
``push`` raises, as ``on_overflow`` says. ``outbox.py`` keeps the account.

Threading: ``AsyncStream`` lives on one event loop. ``SyncStream`` runs one on a
thread of its own and hands calls to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streaminfer.client import routes
from streaminfer.client.errors import (
    APIConnectionError,
    APIError,
    PushRefusedError,
    ServerError,
    StreamBufferFullError,
    status_error,
)
from streaminfer.client.events import session_event
from streaminfer.client.outbox import BufferFull, Outbox, StreamStats
from streaminfer.client.types import Connected, SessionEvent, decode

T = TypeVar("T")
SESSION_DELETED = "session deleted"  # the server's close reason (docs/api.md, "WebSocket")
STATUS_RETRY_S = 1.0


@dataclass(frozen=True)
class StreamOptions:
    buffer_size: int = 10_000  # records held pending or unacknowledged
    on_overflow: Literal["drop", "raise"] = "drop"
    reconnect_delays: Callable[[], Generator[float, None, None]] = (
        backoff  # websockets' own: a few s, growing to 90 s
    )
    event_queue: int = 1024  # events held for a slow reader before the oldest is dropped
    open_timeout: float = 10.0  # each connection attempt
    first_connect_timeout: float | None = 60.0  # entering the stream: APIConnectionError after it


class AsyncStream:
    """Use as ``async with session.stream() as s:``; ``await s.push(records)``;
    ``async for event in s``. Entering waits for the first connection."""

    def __init__(
        self, base_url: str, headers: dict[str, str], session_id: str, options: StreamOptions
    ) -> None:
        self._url = "ws" + base_url.removeprefix("http") + routes.session_path(session_id, "/ws")
        self._headers = headers
        self._status = routes.status(session_id)
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0)
        self._options = options
        self._outbox = Outbox(options.buffer_size)
        self._events: asyncio.Queue[SessionEvent | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: APIError | None = None  # ends the stream
        self._refused: PushRefusedError | None = None  # raised once, by the next push or flush
        self.events_dropped = 0

    @property
    def stats(self) -> StreamStats:
        return replace(self._outbox.stats)

    async def __aenter__(self) -> AsyncStream:
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(self._first), self._options.first_connect_timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise APIConnectionError(
                f"no connection to {self._url} within {self._options.first_connect_timeout} s"
            ) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def push(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Hold records to send; returns at once. StreamBufferFullError when the buffer is full
        and ``on_overflow`` is "raise"; the stream's error once it has ended."""
        self._raise_pending()
        frame = list(records)
        if not frame:
            return
        try:
            self._outbox.add(frame, drop=self._options.on_overflow == "drop")
        except BufferFull:
            raise StreamBufferFullError(
                f"{len(frame)} records do not fit: {self._outbox.stats.buffered} of "
                f"{self._outbox.capacity} held while the server has not taken them"
            ) from None
        self._wake.set()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until the server has acknowledged every record pushed so far."""

        async def drained() -> None:
            while not self._outbox.idle():
                self._raise_pending()
                self._progress.clear()
                await self._progress.wait()
            self._raise_pending()

        await asyncio.wait_for(drained(), timeout)

    def __aiter__(self) -> AsyncIterator[SessionEvent]:
        return self

    async def __anext__(self) -> SessionEvent:
        item = await self._events.get()
        if item is None:
            self._events.put_nowait(None)  # every later read ends too
            if self._failure is not None:
                raise self._failure
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._http.aclose()
        self._events.put_nowait(None)

    def _raise_pending(self) -> None:
        if self._refused is not None:
            refused, self._refused = self._refused, None
            raise refused
        if self._failure is not None:
            raise self._failure

    def _offer(self, event: SessionEvent) -> None:
        if self._events.qsize() >= self._options.event_queue:
            self._events.get_nowait()
            self.events_dropped += 1
        self._events.put_nowait(event)

    async def _run(self) -> None:
        try:
            async for ws in connect(
                self._url,
                additional_headers=self._headers,
                reconnect_delays=self._options.reconnect_delays,
                open_timeout=self._options.open_timeout,
            ):
                try:
                    await self._serve(ws)
                except ConnectionClosed:
                    pass  # reconnect
                except (APIConnectionError, ServerError):  # the status read failed: the server is going
                    await asyncio.sleep(STATUS_RETRY_S)
                if ws.close_reason == SESSION_DELETED:
                    break
        except InvalidStatus as exc:  # a refused handshake that retrying will not mend (404, 401, ...)
            body = bytes(exc.response.body or b"")
            self._failure = status_error(httpx.Response(exc.response.status_code, content=body))
        except Exception as exc:
            self._failure = APIError(f"the stream failed: {exc!r}")
        finally:
            if self._first is not None and not self._first.done():
                if self._failure is not None:
                    self._first.set_exception(self._failure)
                else:
                    self._first.set_result(None)
            self._progress.set()
            self._events.put_nowait(None)

    async def _serve(self, ws: ClientConnection) -> None:
        hello = json.loads(await ws.recv())["data"]
        response = await self._http.request(self._status.method, self._status.path)
        if response.status_code >= 400:
            raise status_error(response)
        counts = self._status.parse(response).statistics
        self._outbox.reconcile(counts.total_enqueued + counts.total_dropped)
        self._offer(decode(Connected, hello))
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        self._progress.set()
        sender = asyncio.create_task(self._send(ws))
        try:
            async for message in ws:
                self._receive(json.loads(message))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    def _receive(self, frame: Any) -> None:
        kind, data = frame.get("type"), frame.get("data")
        if kind == "push_ack":
            self._outbox.ack(int(data["pushed"]), int(data["dropped"]))
            self._progress.set()
        elif kind == "error" and isinstance(data, dict) and "code" in data:  # our frame was refused
            records = self._outbox.refuse()
            self._refused = PushRefusedError(str(data.get("message")), int(data["code"]), records)
            self._progress.set()
        else:
            event = session_event(data)
            if event is not None:
                self._offer(event)

    async def _send(self, ws: ClientConnection) -> None:
        while True:
            self._wake.clear()
            while self._outbox.has_pending():
                await ws.send(json.dumps({"type": "push", "data": self._outbox.take()}))
            await self._wake.wait()


class SyncStream:
    """``AsyncStream`` for blocking code: ``with session.stream() as s:``; ``s.push(records)``;
    ``for event in s``. Its event loop runs on a thread of its own."""

    def __init__(
        self, base_url: str, headers: dict[str, str], session_id: str, options: StreamOptions
    ) -> None:
        self._args = (base_url, headers, session_id, options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="streaminfer-stream", daemon=True)
        self._stream: AsyncStream | None = None

    @property
    def stats(self) -> StreamStats:
        return self._async().stats

    def __enter__(self) -> SyncStream:
        self._thread.start()

        async def start() -> AsyncStream:
            return await AsyncStream(*self._args).__aenter__()

        try:
            self._stream = self._call(start())
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._call(self._async().push(records))

    def flush(self, timeout: float | None = None) -> None:
        self._call(self._async().flush(timeout))

    def __iter__(self) -> Iterator[SessionEvent]:
        return self

    def __next__(self) -> SessionEvent:
        try:
            event: SessionEvent = self._call(self._async().__anext__())
            return event
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        if self._stream is not None:
            self._call(self._stream.close())
        self._stop()

    def _async(self) -> AsyncStream:
        if self._stream is None:
            raise RuntimeError("the stream is not open: use it in a with block")
        return self._stream

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
