"""Server-sent events: frame formatting and a response that stops at disconnect.

``EventStreamResponse`` runs the frame iterator and a listener for
``http.disconnect`` side by side; whichever ends first cancels the other, so
a client that goes away releases its subscription at once (the iterator's
``finally`` blocks run), not at the next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
PING = b": ping\n\n"

logger = logging.getLogger("streaminfer.server")


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def frame(data: Any, event: str | None = None) -> bytes:
    """One SSE frame: an optional ``event:`` line and one ``data:`` line of JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {dumps(data)}\n\n".encode()


class EventStreamResponse:
    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.frames = frames
        self.on_close = on_close
        self.status_code = status_code
        merged = {**SSE_HEADERS, **(headers or {})}
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        writer = asyncio.ensure_future(self._write(send))
        listener = asyncio.ensure_future(self._wait_disconnect(receive))
        try:
            await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            writer.cancel()
            listener.cancel()
            # First, so that the work behind the frames stops even if the writer's
            # cancellation is lost (asyncio.wait_for can return a result instead).
            if self.on_close is not None:
                self.on_close()
            results = await asyncio.gather(writer, listener, return_exceptions=True)
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        error = results[0]
        if isinstance(error, Exception) and not isinstance(error, OSError):
            logger.error("event stream failed", exc_info=error)
        if listener.cancelled():  # the frames ran out while the client is still there: end the body
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write(self, send: Send) -> None:
        async for chunk in self.frames:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
