"""The event dispatcher: core events -> SSE/WebSocket subscribers and /generate waiters.

The core signals pending events on an eventfd; ``loop.add_reader`` wakes the
loop, which takes them with ``Engine.poll_events()`` (never blocks) and routes
them: ``flash_ready`` / ``data_updated`` / ``error`` by ``session_id`` to every subscriber
of that session, ``token`` / ``generate_done`` / ``generate_error`` by
``request_id`` to the request's waiter.

Everything here runs on the event loop thread. A session event is turned into
its wire forms once (``SharedEvent``), and every subscriber is handed the same
bytes. Handing it out never awaits a subscriber; with thousands of them it is
done ``FANOUT_SLICE`` subscribers per turn of the loop, so that pushes and other
requests are answered in between. Subscriber queues are bounded: a subscriber
that falls behind loses its oldest events (counted), and the loop never waits
for it. A ``None`` in a queue means "the session is gone, stop".
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from streaminfer.server import views
from streaminfer.server.sse import dumps, frame

if TYPE_CHECKING:
    from streaminfer._core import Engine

logger = logging.getLogger("streaminfer.server")

Event = dict[str, Any]
SESSION_EVENTS = frozenset({"flash_ready", "data_updated", "error"})
REQUEST_EVENTS = frozenset({"token", "generate_done", "generate_error"})
# Why a subscription ended (a WebSocket's close reason).
SESSION_DELETED = "session deleted"
SERVER_STOPPING = "server stopping"
# Subscribers offered an event per turn of the loop: each offer wakes one writer
# (about 35 us on a 2-core EPYC, bench/fanout_cost.py), so a turn stays near a
# millisecond however many subscribers a session has, and a push waits for no more.
FANOUT_SLICE = 32


class SharedEvent:
    """One session event in its wire forms, serialized on first use and shared by every
    subscriber: an SSE frame, and a WebSocket text frame."""

    __slots__ = ("_sse", "_ws", "data")

    def __init__(self, data: Any) -> None:
        self.data = data
        self._sse: bytes | None = None
        self._ws: str | None = None

    @property
    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = frame(self.data, self.data["type"])
        return self._sse

    @property
    def ws_text(self) -> str:
        if self._ws is None:
            self._ws = dumps({"type": self.data["type"], "data": self.data})
        return self._ws


Item = SharedEvent | None


class Subscription:
    """One SSE stream's or WebSocket's view of a session's events: a bounded queue
    with one reader."""

    def __init__(self, session_id: str, maxsize: int) -> None:
        self.session_id = session_id
        self.maxsize = maxsize
        self.items: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # Why the stream ended, once it was ended: a WebSocket's close reason.
        self.end_reason = ""

    def offer(self, item: Item) -> bool:
        """Enqueue without waiting; when full, drop the oldest event to make room (and
        say so: True)."""
        full = len(self.items) >= self.maxsize
        if full:
            self.items.popleft()
        self.items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return full

    async def get(self, timeout: float | None = None) -> Item | TimeoutError:
        """The next item; a ``TimeoutError`` (returned, not raised) after ``timeout`` seconds
        without one. No task or queue per call: one future, and a timer when idle."""
        if not self.items:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self.items:
                return TimeoutError()
        return self.items.popleft()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class RequestWaiter:
    """The events of one /generate request (at most max_tokens + 1 of them)."""

    def __init__(self, session_id: str, request_id: int) -> None:
        self.session_id = session_id
        self.request_id = request_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def get(self) -> Event:
        return await self.queue.get()


class EventHub:
    def __init__(self, engine: Engine, subscriber_queue_size: int = 256) -> None:
        self._engine = engine
        self._maxsize = subscriber_queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        self._waiters: dict[int, RequestWaiter] = {}
        # Generations being started off the loop: their first events can come before
        # ``watch``, and wait here (by request id) until it runs. Cleared when none is.
        self._starting = 0
        self._early: dict[int, list[Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        # (subscribers, item, next index): offers not yet made, oldest first, so that
        # every subscriber sees the events of its session in order.
        self._fanout: deque[tuple[tuple[Subscription, ...], Item, int]] = deque()
        self._pumping = False
        self.events_dispatched = 0
        self.events_unrouted = 0
        # Events dropped for subscribers that fell behind, since the start (a counter:
        # it keeps the drops of subscribers that have gone).
        self.events_dropped = 0

    # -- wiring -----------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._fd = self._engine.event_fd
        loop.add_reader(self._fd, self.drain)
        self.drain()  # anything queued before the reader was attached

    def stop(self) -> None:
        if self._loop is not None and self._fd >= 0:
            self._loop.remove_reader(self._fd)
        self._loop = None
        self._fd = -1
        self._pump()  # without a loop: every pending offer now
        self.end_streams()
        for request_id, waiter in self._waiters.items():
            stopping = {
                "type": "generate_error",
                "request_id": request_id,
                "message": "the server is stopping",
            }
            waiter.queue.put_nowait(stopping)

    def end_streams(self) -> None:
        """End every SSE stream and WebSocket (the server is stopping)."""
        for subs in self._subscribers.values():
            self._end(subs, SERVER_STOPPING)

    def drain(self) -> None:
        """Reader callback: take every pending event and route it."""
        try:
            events = self._engine.poll_events()
        except Exception:  # a closed engine, or a core bug: never break the loop
            logger.exception("poll_events failed")
            return
        for event in events:
            try:
                self.dispatch(event)
            except Exception:
                logger.exception("could not dispatch event %r", event)

    def dispatch(self, event: Event) -> None:
        self.events_dispatched += 1
        kind = event.get("type")
        if kind in SESSION_EVENTS:
            subs = self._subscribers.get(str(event.get("session_id")))
            data = views.session_event(event)
            if data is None:
                self.events_unrouted += 1
            elif subs:
                self._fan_out(subs, SharedEvent(data))
        elif kind in REQUEST_EVENTS:
            request_id = event.get("request_id", -1)
            waiter = self._waiters.get(request_id)
            if waiter is not None:
                waiter.queue.put_nowait(event)
            elif self._starting and isinstance(request_id, int):
                self._early.setdefault(request_id, []).append(event)
            else:
                self.events_unrouted += 1
        else:
            self.events_unrouted += 1

    def _end(self, subs: set[Subscription], reason: str) -> None:
        """End these streams (``None`` queued behind the events already there), saying why."""
        for sub in subs:
            sub.end_reason = sub.end_reason or reason
        self._fan_out(subs, None)

    def _fan_out(self, subs: set[Subscription], item: Item) -> None:
        self._fanout.append((tuple(subs), item, 0))
        if not self._pumping:
            self._pump()

    def _pump(self) -> None:
        """Make up to FANOUT_SLICE pending offers (all of them without a loop), then come
        back on the loop's next turn for the rest."""
        budget = FANOUT_SLICE if self._loop is not None else -1
        while self._fanout and budget != 0:
            subs, item, start = self._fanout[0]
            end = len(subs) if budget < 0 else min(len(subs), start + budget)
            for sub in subs[start:end]:
                if sub.offer(item):
                    self.events_dropped += 1
            budget = budget if budget < 0 else budget - (end - start)
            if end == len(subs):
                self._fanout.popleft()
            else:
                self._fanout[0] = (subs, item, end)
        self._pumping = bool(self._fanout) and self._loop is not None
        if self._pumping and self._loop is not None:
            self._loop.call_soon(self._pump)

    # -- subscribers ------------------------------------------------------
    @contextmanager
    def subscribe(self, session_id: str) -> Iterator[Subscription]:
        sub = Subscription(session_id, self._maxsize)
        self._subscribers.setdefault(session_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(session_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[session_id]

    def subscriber_count(self, session_id: str | None = None) -> int:
        if session_id is not None:
            return len(self._subscribers.get(session_id, ()))
        return sum(len(subs) for subs in self._subscribers.values())

    def fanning_out(self) -> bool:
        """Some event still waits to be offered to some of its subscribers."""
        return bool(self._fanout)

    def largest_backlog(self) -> int:
        """Events waiting for the subscriber furthest behind (at most the queue size)."""
        return max((len(sub.items) for subs in self._subscribers.values() for sub in subs), default=0)

    # -- generate requests --------------------------------------------------
    @contextmanager
    def starting(self) -> Iterator[None]:
        """Around a ``Session.generate`` run off the loop and the ``watch`` after it:
        events of a request not yet watched are kept for it meanwhile."""
        self._starting += 1
        try:
            yield
        finally:
            self._starting -= 1
            if not self._starting:
                self.events_unrouted += sum(len(events) for events in self._early.values())
                self._early.clear()

    def watch(self, session_id: str, request_id: int) -> RequestWaiter:
        """Collect a request's events. Call right after ``Session.generate`` returns, inside
        ``starting`` (or with no ``await`` in between), so that no event is missed;
        ``unwatch`` when done."""
        waiter = RequestWaiter(session_id, request_id)
        for event in self._early.pop(request_id, ()):
            waiter.queue.put_nowait(event)
        self._waiters[request_id] = waiter
        return waiter

    def unwatch(self, request_id: int) -> None:
        self._waiters.pop(request_id, None)

    def waiter_count(self) -> int:
        return len(self._waiters)

    # -- session end ----------------------------------------------------------
    def close_session(self, session_id: str, reason: str) -> None:
        """Tell every subscriber and waiter of a session that it is gone."""
        subs = self._subscribers.get(session_id)
        if subs:
            self._end(subs, SESSION_DELETED)
        for waiter in list(self._waiters.values()):
            if waiter.session_id == session_id:
                waiter.queue.put_nowait(
                    {"type": "generate_error", "request_id": waiter.request_id, "message": reason}
                )
