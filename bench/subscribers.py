"""Lean event subscribers for the load benchmarks: many SSE streams and WebSockets on one
session from one process, each noting when every ``data_updated`` event reached it.

The SSE client is a raw asyncio stream (no HTTP library), so that thousands of them
cost the client little beside the server; the WebSocket client is ``websockets``.
Arrival times are ``time.monotonic()``, one clock for every process of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect

CONNECT_BATCH = 200  # handshakes in flight at once: the listen backlog stays short


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (children inherit it);
    returns the new soft limit, which is at most the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Arrivals:
    """One subscriber's view: the arrival time of each data_version it saw."""

    kind: str  # "sse" or "ws"
    versions: dict[int, float] = field(default_factory=dict)
    connected: bool = False
    # The session's data_version when it subscribed: it is owed every later one.
    since: int = 0
    error: str = ""


async def _read_sse(host: str, port: int, path: str, out: Arrivals, delay_s: float) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
        writer.write(request.encode())
        status = await reader.readline()
        if b" 200 " not in status:
            out.error = status.decode(errors="replace").strip()
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                data = json.loads(line[6:])
                if data.get("type") == "connected":
                    out.connected, out.since = True, int(data["data_version"])
                elif data.get("type") == "data_updated":
                    out.versions[int(data["data_version"])] = time.monotonic()
                    if delay_s:
                        await asyncio.sleep(delay_s)
    finally:
        writer.close()


async def _read_ws(url: str, out: Arrivals, delay_s: float) -> None:
    async with connect(url, max_size=None, compression=None, open_timeout=120) as ws:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "connected":
                out.connected, out.since = True, int(frame["data"]["data_version"])
            elif frame["type"] == "data_updated":
                out.versions[int(frame["data"]["data_version"])] = time.monotonic()
                if delay_s:
                    await asyncio.sleep(delay_s)


async def _guarded(coro: Any, out: Arrivals) -> None:
    try:
        await coro
    except (OSError, asyncio.IncompleteReadError, Exception) as exc:  # counted, never raised
        out.error = out.error or repr(exc)


class Crowd:
    """``n`` subscribers of one session, alternately SSE and WebSocket, read in the background."""

    def __init__(self, base: str, session_id: str, n: int, delay_s: float = 0.0, offset: int = 0) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.path = f"/v1/sessions/{session_id}/events"
        self.ws_url = f"ws://{host}:{port}/v1/sessions/{session_id}/ws"
        self.n = n
        self.delay_s = delay_s
        self.offset = offset  # the first subscriber is SSE when even, WebSocket when odd
        self.members: list[Arrivals] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self, timeout: float = 600.0) -> None:
        """Open every subscriber, CONNECT_BATCH at a time, until each saw its ``connected``."""
        deadline = time.monotonic() + timeout
        for start in range(0, self.n, CONNECT_BATCH):
            batch: list[Arrivals] = []
            for i in range(start, min(self.n, start + CONNECT_BATCH)):
                out = Arrivals("sse" if (i + self.offset) % 2 == 0 else "ws")
                reading = (
                    _read_sse(self.host, self.port, self.path, out, self.delay_s)
                    if out.kind == "sse"
                    else _read_ws(self.ws_url, out, self.delay_s)
                )
                self.tasks.append(asyncio.ensure_future(_guarded(reading, out)))
                batch.append(out)
            self.members += batch
            while not all(m.connected or m.error for m in batch) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

    async def settle(self, quiet_s: float = 3.0, limit_s: float = 120.0) -> None:
        """Until no event arrived for ``quiet_s`` seconds: the last ones still in flight."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            last = max((t for m in self.members for t in m.versions.values()), default=0.0)
            if time.monotonic() - last > quiet_s:
                return
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def summary(self) -> dict[str, Any]:
        """Per subscriber: its kind, whether it connected, its error, and its arrivals."""
        return {
            "members": [
                {
                    "kind": m.kind,
                    "connected": m.connected,
                    "since": m.since,
                    "error": m.error,
                    "versions": m.versions,
                }
                for m in self.members
            ]
        }


def run_crowd(base: str, session_id: str, n: int, ready: Any, stop: Any, result: Any) -> None:
    """A child process's body: connect ``n`` subscribers, set ``ready``, read until ``stop``
    is set, then put the summary on the ``result`` queue."""

    async def main() -> None:
        crowd = Crowd(base, session_id, n)
        await crowd.connect()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await crowd.settle()
        await crowd.close()
        result.put(crowd.summary())

    raise_open_files(n + 256)
    asyncio.run(main())
