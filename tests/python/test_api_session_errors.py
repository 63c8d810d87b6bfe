"""A session's core errors reach its SSE and WebSocket subscribers, and its counts reconcile."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Any, cast

import httpx
from api_server import records, session
from polling import WAIT_S, wait_for

from streaminfer.server.hub import EventHub, SharedEvent

if TYPE_CHECKING:
    from streaminfer._core import Engine

SMALL_CONTEXT = 512
BURST = 40  # far more records than a 512-token context's window holds


def _settled(client: httpx.Client, sid: str) -> dict[str, Any]:
    """The stream status once every accepted record is decoded or skipped."""

    def done() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/v1/sessions/{sid}/stream/status").json()
        return status if status["streaming"]["queue_size"] == 0 else None

    return wait_for(done, what="an empty queue")


def test_status_reconciles_with_skipped(client: httpx.Client) -> None:
    with session(client, "ohlcv", context_size=SMALL_CONTEXT) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", BURST)})
        status = _settled(client, sid)
        stats = status["statistics"]
        assert stats["skipped"] > 0  # the burst is larger than the window: the oldest never decode
        assert stats["total_enqueued"] == BURST
        queued = status["streaming"]["queue_size"]
        assert stats["total_enqueued"] == stats["items_processed"] + stats["skipped"] + queued


class ErrorSource:
    """The engine's side of the hub, holding one ``error`` event as the core emits it
    (session.cpp's "error" events). No input makes decoding fail any more (contexts keep
    room for every answer, records are checked before they are queued), so the event is
    handed in here."""

    def __init__(self, session_id: str) -> None:
        self._read, self._write = os.pipe()
        self.events = [{"type": "error", "session_id": session_id, "message": "llama_decode failed"}]

    @property
    def event_fd(self) -> int:
        return self._read

    def poll_events(self) -> list[dict[str, Any]]:
        taken, self.events = self.events, []
        return taken

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


def test_a_core_error_event_reaches_subscribers_as_sse_and_websocket_frames() -> None:
    async def scenario() -> tuple[bytes, str]:
        source = ErrorSource("sess_a")
        hub = EventHub(cast("Engine", source))
        with hub.subscribe("sess_a") as sub, hub.subscribe("sess_b") as other:
            hub.start(asyncio.get_running_loop())  # drains what the engine holds
            item = await sub.get(timeout=WAIT_S)
            assert isinstance(item, SharedEvent)
            assert not other.items  # routed by session
            hub.stop()
        source.close()
        return item.sse, item.ws_text

    sse, ws_text = asyncio.run(scenario())
    assert sse.startswith(b"event: error\n")
    data = json.loads(sse.split(b"data: ", 1)[1])
    assert data == {"type": "error", "message": "llama_decode failed"}
    assert json.loads(ws_text) == {"type": "error", "data": data}
