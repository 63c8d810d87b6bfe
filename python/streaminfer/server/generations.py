"""Generations in flight: started off the loop, bounded, read as events, and cancelled
when nobody waits for them any more.

A generation holds a slot from before the core sees it until it is forgotten
(answered, failed, timed out, or its client gone), so that no client can fill
the decode thread with questions nobody bounds: ``--max-generates-per-session``
per session, ``--max-generates`` in all; past either, 429. Everything here runs
on the event loop thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from streaminfer.server import views
from streaminfer.server.errors import (
    ClientGone,
    GenerateFailed,
    GenerateTimeout,
    TooManyGenerates,
    core_errors,
)
from streaminfer.server.hub import EventHub, RequestWaiter
from streaminfer.server.schemas import bounded_text

if TYPE_CHECKING:
    from streaminfer._core import Session


class GenerateSlots:
    """How many generations are in flight, per session and in all."""

    def __init__(self, per_session: int, total: int) -> None:
        self.per_session = per_session
        self.total = total
        self._by_session: dict[str, int] = {}
        self._in_flight = 0

    def __len__(self) -> int:
        return self._in_flight

    def acquire(self, session_id: str) -> None:
        """Take a slot for ``session_id``; 429 when the session's or the server's are all taken."""
        held = self._by_session.get(session_id, 0)
        if held >= self.per_session:
            raise TooManyGenerates(
                f"the session already has {held} generations in flight (--max-generates-per-session "
                f"{self.per_session}); retry when one has finished",
                headers={"Retry-After": "1"},
            )
        if self._in_flight >= self.total:
            raise TooManyGenerates(
                f"the server already has {self._in_flight} generations in flight (--max-generates "
                f"{self.total}); retry when one has finished",
                headers={"Retry-After": "1"},
            )
        self._by_session[session_id] = held + 1
        self._in_flight += 1

    def release(self, session_id: str) -> None:
        held = self._by_session.get(session_id, 0)
        if held <= 1:
            self._by_session.pop(session_id, None)
        else:
            self._by_session[session_id] = held - 1
        self._in_flight -= 1


def failure(event: Mapping[str, Any]) -> GenerateFailed:
    return GenerateFailed(f"generation failed: {views.as_str(event.get('message')) or 'unknown error'}")


# Put in a forgotten generation's queue, so that whoever still reads it stops there:
# a reader is not cancelled (a cancellation can be lost to a result that comes at the
# same moment, and a generation's tokens come all the time).
FORGOTTEN: dict[str, Any] = {"type": "forgotten"}


async def _wait_done(waiter: RequestWaiter, timeout: float) -> dict[str, Any]:
    """The ``generate_done`` event; 503 on a ``generate_error`` or when ``timeout`` passes,
    ``ClientGone`` when the generation was forgotten first (its client left)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            event = await asyncio.wait_for(waiter.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            message = f"generation did not finish within {timeout:g} s"
            raise GenerateTimeout(message) from None
        if event is FORGOTTEN:
            raise ClientGone()
        if event.get("type") == "generate_done":
            return event
        if event.get("type") == "generate_error":
            raise failure(event)


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone. The body was read before: what the channel
    says next is ``http.disconnect``."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def stream_events(
    waiter: RequestWaiter, ping_interval: float, timeout: float
) -> AsyncIterator[dict[str, Any] | None]:
    """A streamed request's events, ``None`` after each ``ping_interval`` of silence (a keep-alive),
    and a ``generate_error`` of its own after ``timeout`` of silence (then nothing more); it
    ends when the generation is forgotten."""
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
        if event is FORGOTTEN:
            return
        last = loop.time()
        yield event


def stream_failure(event: Mapping[str, Any], timeout: float) -> GenerateFailed | GenerateTimeout:
    if event.get("timed_out"):
        return GenerateTimeout(f"no token within {timeout:g} s; the generation was cancelled")
    return failure(event)


class Generation:
    """A question the core is answering: its events, and ``forget`` to stop it.

    ``forget`` runs when the answer was read, or its client went away (a
    timeout too): the generation stops at its next step, and its slot is free;
    after it finished, cancelling is a no-op. Forgetting twice is harmless.
    """

    def __init__(self, hub: EventHub, slots: GenerateSlots, session: Session, request_id: int) -> None:
        self.waiter = hub.watch(session.session_id, request_id)
        self._hub, self._slots, self._session, self._id = hub, slots, session, request_id
        self._held = True

    def forget(self) -> None:
        if not self._held:
            return
        self._held = False
        self._hub.unwatch(self._id)
        self._session.cancel(self._id)
        self._slots.release(self._session.session_id)
        self.waiter.queue.put_nowait(FORGOTTEN)

    async def _forget_when_gone(self, request: Request) -> None:
        await _disconnected(request)
        self.forget()

    async def done(self, request: Request, timeout: float) -> dict[str, Any]:
        """The ``generate_done`` event (503 on failure or timeout; ``ClientGone``, the
        generation cancelled, when the client leaves first)."""
        watcher = asyncio.ensure_future(self._forget_when_gone(request))
        try:
            return await _wait_done(self.waiter, timeout)
        finally:
            watcher.cancel()
            self.forget()


async def start_generation(
    hub: EventHub,
    slots: GenerateSlots,
    session: Session,
    prompt: str,
    max_tokens: int | None,
    stop: list[str] | None,
    param: str,
) -> Generation:
    """Queue the question. The core tokenizes it with the GIL released, on a worker thread,
    so the loop goes on serving meanwhile; the hub keeps the events that come first."""
    bounded_text(prompt, param)
    session_id = session.session_id
    slots.acquire(session_id)  # before the first await: concurrent requests see it taken
    try:
        with hub.starting():
            with core_errors(param=param):
                request_id = await asyncio.to_thread(session.generate, prompt, max_tokens, stop)
            return Generation(hub, slots, session, request_id)
    except BaseException:
        slots.release(session_id)
        raise
