"""The in-process engine: streaminfer without a server.

    with streaminfer.Engine() as engine, engine.session("ohlcv", flash=["Is the trend up or down?"]) as s:
        s.push(candles)        # a list of dicts, a numpy array or a pandas DataFrame
        s.wait_fresh()         # every flash query answered on everything pushed so far
        print(s.answers()[0].value)

Threading: the core decodes on its own threads. One thread here, the event pump,
takes the core's events and routes them: session events to each session's
callbacks and async iterators, generation results to the ``ask`` waiting on
them. Callbacks run on the pump and must return quickly. A session's pushes are
serialized by a lock (the core's ring has one producer); everything else may be
called from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import select
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streaminfer import _core
from streaminfer.columns import FieldLayout, push_input, window_array
from streaminfer.models import Progress, resolve_model
from streaminfer.results import (
    Answer,
    DataUpdated,
    Event,
    FlashAnswer,
    PushResult,
    SessionError,
    SessionStatus,
)

logger = logging.getLogger("streaminfer.engine")

FRESH_POLL_S = 0.02
"""How often ``wait_fresh`` looks again between events: a re-answer that gives the same
text sends no event (docs/api.md, "Events")."""

EVENT_QUEUE_LIMIT = 1024
"""Events an async iterator holds for a slow reader before it drops the oldest."""


class GenerationError(RuntimeError):
    """An ad-hoc question could not be answered (cancelled, or the session closed)."""


class Engine:
    """One model and its decode thread, shared by every session opened on it.

    ``model`` is a known model's name ("default", see ``streaminfer models list``) or a
    GGUF file's path; a known model is fetched into the cache on first use.
    ``context_size`` is each session's context in tokens (a window of records and the
    flash queries' room), ``threads`` the decode threads (0: the cores), ``gpu_layers``
    the layers offloaded to a GPU when the build has one, ``queue_capacity`` the records
    a session holds before it drops (counted in ``total_dropped``).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "default",
        *,
        context_size: int = 2048,
        threads: int = 0,
        gpu_layers: int = 0,
        queue_capacity: int = 4096,
        progress: Progress | None = None,
    ) -> None:
        path = resolve_model(os.fspath(model), progress=progress or logger.info)
        self._core = _core.Engine(
            str(path),
            n_ctx=context_size,
            n_threads=threads,
            n_gpu_layers=gpu_layers,
            queue_capacity=queue_capacity,
        )
        self._layouts = {
            t.name: tuple(FieldLayout(f.name, f.kind, f.required) for f in t.fields)
            for t in _core.record_types()
        }
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._wake_read, self._wake_write = os.pipe()
        self._pump = threading.Thread(target=self._pump_events, name="streaminfer-events", daemon=True)
        self._pump.start()

    @property
    def model_path(self) -> str:
        return self._core.model.path

    @property
    def context_size(self) -> int:
        return self._core.n_ctx

    def session(
        self,
        type: str,
        flash: Sequence[str] = (),
        *,
        prompt: str = "",
        context_size: int = 0,
        window_size: int = 0,
        flash_tokens: int | None = None,
    ) -> Session:
        """Open a session of a record type ("ohlcv", "iot", "spatial", "event", "vitals")
        with standing questions. Its prompt is decoded once, now. ``context_size`` 0: the
        engine's; ``window_size`` 0: as many records as fit; ``flash_tokens``: each
        answer's token limit. Raises ValueError for a bad type, size or question."""
        if self._closed:
            raise RuntimeError("the engine is closed")
        core = self._core.create_session(
            uuid.uuid4().hex,
            type,
            prompt,
            context_size,
            window_size,
            [(query, flash_tokens) for query in flash],
        )
        session = Session(self, core, self._layouts[core.data_type])
        with self._lock:
            self._sessions[session.id] = session
        return session

    def close(self) -> None:
        """Close every session and stop the engine's threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions.values()):
            session.close()
        os.write(self._wake_write, b"x")
        self._pump.join()
        self._core.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _forget(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
        self._core.destroy_session(session.id)

    def _pump_events(self) -> None:
        fd = self._core.event_fd
        while True:
            readable, _, _ = select.select([fd, self._wake_read], [], [])
            if self._wake_read in readable:
                return
            for event in self._core.poll_events():
                with self._lock:
                    session = self._sessions.get(str(event.get("session_id")))
                if session is not None:
                    try:
                        session._route(event)
                    except Exception:  # a core event of a shape we do not know: never stop the pump
                        logger.exception("could not route event %r", event)


class _Subscriber:
    """A callback, told of each event and of the session's end (``None``)."""

    def __init__(self, deliver: Callable[[Event | None], None]) -> None:
        self.deliver = deliver


class Session:
    """A live window of records with standing questions. Open one with ``Engine.session``."""

    def __init__(self, engine: Engine, core: _core.Session, fields: tuple[FieldLayout, ...]) -> None:
        self._engine = engine
        self._core = core
        self._fields = fields
        self._push_lock = threading.Lock()
        self._changed = threading.Condition()
        self._requests: dict[int, queue.SimpleQueue[dict[str, Any]]] = {}
        self._subscribers: list[_Subscriber] = []
        self._closed = False

    @property
    def id(self) -> str:
        return self._core.session_id

    @property
    def type(self) -> str:
        return self._core.data_type

    @property
    def fields(self) -> tuple[str, ...]:
        """The record type's fields, in their order on the model's line (and a 2-D array's)."""
        return tuple(f.name for f in self._fields)

    @property
    def context_size(self) -> int:
        return self._core.context_size

    @property
    def window_size(self) -> int:
        """Records the window holds at most; older ones slide out."""
        return self._core.window_size

    # -- data -------------------------------------------------------------------------
    def push(self, records: object) -> PushResult:
        """Queue records for decoding; never waits for the model. ``records``: a list of
        dicts, a numpy structured array, a 2-D numeric array whose columns are the numeric
        ``fields`` in order (optionally after a leading timestamp column), or a pandas DataFrame. All or none
        are accepted: ValueError names the first bad value. What the queue cannot hold is
        dropped and counted."""
        data = push_input(self._fields, records)
        with self._push_lock:
            result = self._core.push(data) if isinstance(data, list) else self._core.push_columns(*data)
        return PushResult(
            result.pushed,
            result.dropped,
            result.queue_size,
            result.queue_capacity,
            result.total_enqueued,
            result.total_dropped,
        )

    def window(self) -> npt.NDArray[np.void]:
        """The records in the window, oldest first, as a structured array (``timestamp`` as
        datetime64[s], NaT where a record has none; then ``fields``)."""
        return window_array(self._fields, self._core.window(), _core.MAX_TEXT_LENGTH)

    def status(self) -> SessionStatus:
        state = self._core.state()
        c = state.counters
        return SessionStatus(
            state.data_count,
            state.window_size,
            state.queue_size,
            state.data_version,
            c.total_enqueued,
            c.total_dropped,
            c.items_processed,
            c.skipped,
            c.evicted,
        )

    # -- questions ----------------------------------------------------------------------
    def answers(self) -> list[FlashAnswer]:
        """Every flash query with its latest answer (``value`` "" before the first)."""
        return [_flash_answer(f) for f in self._core.list_flash()]

    def add_flash(self, query: str, max_tokens: int | None = None) -> FlashAnswer:
        """Stand a new question over the window; it is answered on the next turn."""
        return _flash_answer(self._core.register_flash(query, max_tokens))

    def remove_flash(self, query_id: int) -> bool:
        return self._core.delete_flash(query_id)

    def wait_fresh(self, timeout: float | None = None) -> list[FlashAnswer]:
        """Wait until every record pushed so far is decoded (or skipped) and every flash
        query is answered on the data it made; return the answers. TimeoutError after
        ``timeout`` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                state = self._core.state()
                flash = self._core.list_flash()
                current = state.data_version
                if state.queue_size == 0 and all(f.has_answer and f.data_version >= current for f in flash):
                    return [_flash_answer(f) for f in flash]
                remaining = FRESH_POLL_S if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    stale = sum(1 for f in flash if f.data_version < state.data_version)
                    raise TimeoutError(
                        f"not fresh after {timeout} s: {state.queue_size} records queued, "
                        f"{stale} of {len(flash)} answers behind data version {state.data_version}"
                    )
                self._changed.wait(min(remaining, FRESH_POLL_S))

    def ask(self, prompt: str, *, max_tokens: int | None = None, timeout: float | None = None) -> Answer:
        """Answer a question about the window as it stands: from a flash query when it is
        that question and current, else generated now (the question's tokens and the
        answer's, whatever the window's size). TimeoutError cancels the generation."""
        cached = self._core.cached_answer(prompt)
        if cached is not None:
            c = cached
            return Answer(c.value, c.answer_tokens, c.confidence, c.data_version, True, "stop")
        results: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        with self._changed:  # the pump routes the request's events once its waiter is in place
            request_id = self._core.generate(prompt, max_tokens)
            self._requests[request_id] = results
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    event = results.get(timeout=remaining)
                except queue.Empty:
                    self._core.cancel(request_id)
                    raise TimeoutError(f"no answer after {timeout} s") from None
                if event["type"] == "generate_done":
                    return Answer(
                        str(event["text"]),
                        int(event["n_tokens"]),
                        float(event["confidence"]),
                        int(event["data_version"]),
                        False,
                        str(event["finish_reason"]),
                    )
                if event["type"] == "generate_error":
                    raise GenerationError(str(event["message"]))
        finally:
            with self._changed:
                self._requests.pop(request_id, None)

    # -- events -------------------------------------------------------------------------
    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with each event of this session (a FlashAnswer when an answer
        changes, DataUpdated after each batch, SessionError) on the engine's event thread.
        Returns a function that stops the calls."""

        def deliver(event: Event | None) -> None:
            if event is not None:
                callback(event)

        return self._subscribe(deliver)

    async def events(self) -> AsyncIterator[Event]:
        """This session's events as an async iterator; it ends when the session closes.
        A reader that falls behind by EVENT_QUEUE_LIMIT events loses the oldest."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue[Event | None] = asyncio.Queue()

        def put(item: Event | None) -> None:
            if item is not None and pending.qsize() >= EVENT_QUEUE_LIMIT:
                pending.get_nowait()
            pending.put_nowait(item)

        def deliver(item: Event | None) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(put, item)

        unsubscribe = self._subscribe(deliver)
        try:
            while (item := await pending.get()) is not None:
                yield item
        finally:
            unsubscribe()

    def close(self) -> None:
        """Free the session's KV memory; its async iterators end. Idempotent."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        self._engine._forget(self)
        for sub in subscribers:
            sub.deliver(None)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _subscribe(self, deliver: Callable[[Event | None], None]) -> Callable[[], None]:
        sub = _Subscriber(deliver)
        with self._changed:
            if self._closed:
                raise RuntimeError("the session is closed")
            self._subscribers.append(sub)

        def unsubscribe() -> None:
            with self._changed:
                if sub in self._subscribers:
                    self._subscribers.remove(sub)

        return unsubscribe

    def _route(self, event: dict[str, Any]) -> None:
        """Pump thread: one core event of this session."""
        kind = event.get("type")
        with self._changed:
            if kind in ("token", "generate_done", "generate_error"):
                waiter = self._requests.get(int(event["request_id"]))
                if waiter is not None:
                    waiter.put(event)
                return
            self._changed.notify_all()
            subscribers = list(self._subscribers)
        typed = _typed_event(event)
        if typed is None:
            return
        for sub in subscribers:
            try:
                sub.deliver(typed)
            except Exception:
                logger.exception("an event callback of session %s failed", self.id)


def _flash_answer(f: _core.FlashInfo) -> FlashAnswer:
    return FlashAnswer(f.id, f.query, f.value, f.confidence, f.data_version, f.evaluated_at)


def _typed_event(event: dict[str, Any]) -> Event | None:
    kind = event.get("type")
    if kind == "flash_ready":
        return FlashAnswer(
            int(event["id"]),
            str(event["query"]),
            str(event["value"]),
            float(event["confidence"]),
            int(event["data_version"]),
            int(event["evaluated_at"]),
        )
    if kind == "data_updated":
        return DataUpdated(int(event["data_version"]), int(event["data_count"]), int(event["pos_next"]))
    if kind == "error":
        return SessionError(str(event.get("message") or "decoding failed"))
    return None
