"""Streaming data: push, stream status, window statistics and the SSE event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from streaminfer.server import responses as r
from streaminfer.server import views
from streaminfer.server.api_route import APIRoute
from streaminfer.server.errors import (
    InvalidRecord,
    NotFound,
    StateWriteFailed,
    TooManyRecords,
    core_errors,
    state_write_errors,
)
from streaminfer.server.hub import EventHub
from streaminfer.server.registry import SessionEntry
from streaminfer.server.runtime import Runtime, get_runtime, touch_session
from streaminfer.server.schemas import PushBody
from streaminfer.server.sse import PING, EventStreamResponse, frame


async def push_records(entry: SessionEntry, body: PushBody, max_records: int) -> r.PushResult:
    """Validate a whole batch, then enqueue it (never waits for the model). Shared with /ws.

    The count is checked first, so an oversized batch costs no validation.
    With --state-dir the accepted records are logged before they are queued,
    and with --fsync always the answer waits for them to be on disk."""
    n = len(body["data"])
    if n > max_records:
        raise TooManyRecords(
            f"{n} records in one push; the limit is {max_records} (--max-records-per-push)", param="data"
        )
    data, store = body["data"], entry.store
    with core_errors(param="data"), state_write_errors():
        result = entry.session.push(data, None if store is None else store.before_accept(data))
        if store is not None:
            store.accepted(result.pushed, entry.session)
            await store.wait_durable()
    return views.push_result(result)


async def push(request: Request, body: PushBody) -> r.PushResult:
    """Push records into the session's window.

    The batch is checked whole (one invalid record refuses it, and nothing of
    it is queued), then queued without waiting for the model: a full queue
    drops, and says so in `dropped`.
    """
    rt = get_runtime(request)
    with rt.registry.use(request.path_params["session_id"]) as entry:
        return await push_records(entry, body, rt.config.max_records_per_push)


async def stream_status(request: Request) -> r.StreamStatus:
    """The session's queue and its counters."""
    entry = touch_session(request)
    with core_errors():
        return views.stream_status(entry.session.state())


async def stats(request: Request) -> r.WindowStats:
    """Statistics over the records in the window, and the pipeline's stage latencies."""
    entry = touch_session(request)
    with core_errors():
        return views.window_stats(entry.session.stats(), entry.session.latency())


async def _event_frames(rt: Runtime, hub: EventHub, session_id: str) -> AsyncIterator[bytes]:
    ping_interval = rt.config.sse_ping_interval_s
    try:
        with rt.registry.use(session_id) as entry, hub.subscribe(session_id) as sub:
            session = entry.session
            yield frame(
                {
                    "type": "connected",
                    "data_version": session.data_version(),
                    "flash_queries": session.flash_count(),
                },
                "connected",
            )
            while True:
                item = await sub.get(ping_interval)
                if isinstance(item, TimeoutError):
                    yield PING
                    continue
                if item is None:  # the session was deleted, or the server is stopping
                    return
                yield item.sse
    except NotFound:  # deleted between the response start and the first frame
        return


async def events(request: Request) -> EventStreamResponse:
    """The session's events as Server-Sent Events.

    `connected` first, then `flash_ready` (a flash query's new answer),
    `data_updated` (a batch entered the window) and `error` (decoding failed;
    the session goes on), each a JSON object in `data` whose `type` is the
    event's name (schemas `ConnectedEvent`, `FlashReadyEvent`,
    `DataUpdatedEvent`, `SessionErrorEvent`). A `: ping` comment line is sent
    after 15 s of silence. The stream ends when the session is deleted or the
    server stops.
    """
    rt = get_runtime(request)
    _, hub = rt.require()
    # The subscription lives exactly as long as the frame iterator, which the
    # response closes as soon as the client disconnects.
    return EventStreamResponse(_event_frames(rt, hub, request.path_params["session_id"]))


TAG = "streaming"
routes = [
    APIRoute(
        "POST",
        "/v1/sessions/{session_id}/stream/push",
        push,
        tag=TAG,
        errors=[InvalidRecord, StateWriteFailed, TooManyRecords],
    ),
    APIRoute("GET", "/v1/sessions/{session_id}/stream/status", stream_status, tag=TAG),
    APIRoute("GET", "/v1/sessions/{session_id}/stats", stats, tag=TAG),
    APIRoute("GET", "/v1/sessions/{session_id}/events", events, tag=TAG),
]
