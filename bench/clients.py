"""Clients of our server's wire API: an async session client (httpx), a WebSocket
frame reader, and a lean keep-alive HTTP connection for latencies.

What they read are the HTTP and WebSocket JSON bodies (the wire API).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.workload import FLASH_TOKENS, Record

# How often /flash is polled once data_updated arrived (an unchanged answer sends no event).
# The figures use the answer's evaluated_at, so polling slowly adds no latency; polling fast
# would take CPU from the model (the server shares the 2 cores with it).
POLL_S = float(os.environ.get("BENCH_POLL_S", "0.1"))


def now_ms() -> float:
    """The wall clock in Unix milliseconds: the clock of the server's ``evaluated_at``."""
    return time.time() * 1e3


class RawHttp:
    """One keep-alive HTTP/1.1 connection through the standard library: a client far
    leaner than httpx, so that latencies measure the server rather than the client."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def post(self, path: str, body: bytes) -> dict[str, Any]:
        self.conn.request("POST", path, body, {"content-type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"POST {path}: {resp.status} {data[:200]!r}")
        return dict(json.loads(data))

    def close(self) -> None:
        self.conn.close()


class Api:
    """A thin async client of our session API."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=600.0)

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.http.post(path, json=body)
        resp.raise_for_status()
        return dict(resp.json())

    async def get(self, path: str) -> dict[str, Any]:
        resp = await self.http.get(path)
        resp.raise_for_status()
        return dict(resp.json())

    async def init(self, window: int, flash: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """A new OHLCV session (``window`` 0: the server's default) with ``flash`` standing."""
        body: dict[str, Any] = {
            "type": "ohlcv",
            "window_size": window,
            "flash": [{"query": q, "max_tokens": FLASH_TOKENS} for q in flash],
        }
        return await self.post("/v1/sessions/init", body)

    async def delete(self, sid: str) -> None:
        await self.http.delete(f"/v1/sessions/{sid}")

    async def flash(self, sid: str) -> dict[str, Any]:
        return await self.get(f"/v1/sessions/{sid}/flash")

    async def status(self, sid: str) -> dict[str, Any]:
        return await self.get(f"/v1/sessions/{sid}/stream/status")

    async def push(self, sid: str, records: list[Record]) -> dict[str, Any]:
        return await self.post(f"/v1/sessions/{sid}/stream/push", {"data": records})

    async def wait_fresh(
        self, sid: str, after_version: int, poll_s: float = 0.05, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Until every pushed record is decoded and every flash answer is at the current
        data_version (> ``after_version``); returns the last /flash body. Polls every ``poll_s``
        (the server shares the 2 cores with the model: polling fast would slow it down)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fl = await self.flash(sid)
            version = fl["current_data_version"]
            if version > after_version and all(q["data_version"] == version for q in fl["queries"]):
                s = (await self.status(sid))["statistics"]
                # Nothing here is ever skipped (pushes never exceed the window).
                if s["total_enqueued"] == s["items_processed"]:
                    return fl
            await asyncio.sleep(poll_s)
        raise TimeoutError(f"{sid}: no fresh answer after version {after_version} within {timeout:.0f} s")


def ws_url(base: str, sid: str) -> str:
    return base.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"


@dataclass
class EventReader:
    """Reads a session's WebSocket frames into a queue, with their arrival time."""

    ws: ClientConnection
    queue: asyncio.Queue[tuple[float, dict[str, Any]]] = field(default_factory=asyncio.Queue)

    async def run(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            await self.queue.put((time.monotonic(), frame))

    async def next_of(self, kinds: tuple[str, ...], timeout: float) -> tuple[float, dict[str, Any]] | None:
        """The next frame of one of ``kinds`` (others are dropped) and its arrival time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                at, frame = await asyncio.wait_for(self.queue.get(), left)
            except asyncio.TimeoutError:
                return None
            if frame["type"] in kinds:
                return at, frame

    async def push(self, records: list[Record]) -> None:
        await self.ws.send(json.dumps({"type": "push", "data": records}))


@contextlib.asynccontextmanager
async def session_socket(base: str, sid: str) -> AsyncIterator[EventReader]:
    """The session's WebSocket, read in the background from its ``connected`` frame on."""
    async with connect(ws_url(base, sid), max_size=None) as ws:
        reader = EventReader(ws)
        task = asyncio.ensure_future(reader.run())
        try:
            first = await reader.next_of(("connected",), 10.0)
            assert first is not None, "no connected frame"
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
