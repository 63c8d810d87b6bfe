"""The server's own cost of fanning one session event out to N subscribers.

``python -m bench fanout-cost --subscribers 2000 10000`` runs the real app on uvicorn
(uvloop) in this process with a tiny random model (bench/synthetic_gguf.py; no event
here comes from the model), opens N sockets from a child process that subscribe (SSE
or WebSocket) and never read, and hands the session's event hub one ``data_updated`` event at a time,
as the core would. A socket absorbs megabytes before its writes block, so for a few
small events no client work competes with the server: the time from the hand-over
until every subscriber's write is done is the server's share of event delivery alone.
Reported per N and kind: that time (median and max of ``--events``), per subscriber,
and the longest turn of the event loop meanwhile (what a push waits for at most).
``python -m bench connections`` measures the same with real clients reading.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop

from bench import synthetic_gguf
from bench.report import machine, machine_line, table, write_json
from bench.subscribers import raise_open_files
from streaminfer.server import hub as hub_module
from streaminfer.server import launch
from streaminfer.server.app import create_app
from streaminfer.server.config import ServerConfig
from streaminfer.server.hub import EventHub

TINY = synthetic_gguf.Shape(n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=2, n_vocab=512)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench fanout-cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, nargs="+", default=[2000, 10000], help="(default: %(default)s)")
    p.add_argument("--kinds", nargs="+", choices=("sse", "ws"), default=["sse", "ws"])
    p.add_argument("--events", type=int, default=10, help="per N and kind (default: %(default)s)")
    p.add_argument(
        "--slice",
        type=int,
        default=hub_module.FANOUT_SLICE,
        help="subscribers offered an event per loop turn (default: the server's, %(default)s)",
    )
    p.add_argument("--out", default="fanout-cost.json")
    return p.parse_args(argv)


@contextmanager
def in_process_server(model: Path) -> Iterator[tuple[int, asyncio.AbstractEventLoop, EventHub]]:
    """The real app on uvicorn (uvloop) on loopback, in a thread of this process: (port, its
    loop, its event hub), so that events can be handed to the hub on its loop. Also the
    stalled-subscriber test's server."""
    port = launch.free_port()
    app = create_app(ServerConfig(model_path=str(model), port=port, ctx_size=1024, threads=1))
    config = uvicorn.Config(
        app, host=launch.HOST, port=port, log_level="warning", ws_per_message_deflate=False, backlog=4096
    )
    server = uvicorn.Server(config)
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://{launch.HOST}:{port}/v1/health", trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("fanout-cost: the in-process server did not become healthy in 60 s")
        time.sleep(0.1)
    try:
        yield port, loop, app.state.runtime.hub
    finally:
        server.should_exit = True
        thread.join(30)


def subscribe(port: int, path: str, kind: str) -> socket.socket:
    sock = socket.create_connection((launch.HOST, port))
    host = f"Host: {launch.HOST}:{port}\r\n"
    if kind == "sse":
        request = f"GET {path}/events HTTP/1.1\r\n{host}\r\n"
    else:
        request = (
            f"GET {path}/ws HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    sock.sendall(request.encode())
    return sock


def hold_subscribers(port: int, path: str, kind: str, n: int, ready: Any, done: Any) -> None:
    """A child process's body (its descriptors are not the server's): ``n`` subscribers that
    never read, held open until ``done``."""
    sockets = [subscribe(port, path, kind) for _ in range(n)]
    ready.set()
    done.wait()
    for sock in sockets:
        sock.close()


async def fan_out_once(hub: EventHub, sid: str, version: int) -> tuple[float, float]:
    """(seconds until every subscriber's write is done, longest loop turn meanwhile). The
    turns are timed until the last offer's writers have run; the check that every queue is
    empty (a walk over all subscribers, the benchmark's own work) comes after."""
    turns: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            turns.append(now - last)
            last = now

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    hub.dispatch({"type": "data_updated", "session_id": sid, "data_version": version, "data_count": 5})
    while hub.fanning_out():
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the writers of the last offers run in this turn
    done = True
    await ticking
    while hub.largest_backlog():
        await asyncio.sleep(0)
    return time.perf_counter() - started, max(turns)


def measure(
    port: int, loop: asyncio.AbstractEventLoop, hub: EventHub, n: int, kind: str, events: int
) -> dict[str, Any]:
    base = f"http://{launch.HOST}:{port}"
    sid = httpx.post(base + "/v1/sessions/init", json={"type": "ohlcv"}, trust_env=False).json()["session_id"]
    path = f"/v1/sessions/{sid}"
    mp = multiprocessing.get_context("spawn")
    ready, done = mp.Event(), mp.Event()
    holder = mp.Process(target=hold_subscribers, args=(port, path, kind, n, ready, done))
    holder.start()
    try:
        if not ready.wait(300):
            raise SystemExit(f"fanout-cost: {n} subscribers not opened in 300 s")
        deadline = time.monotonic() + 120
        while hub.subscriber_count(sid) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"fanout-cost: {hub.subscriber_count(sid)} of {n} subscribers after 120 s")
            time.sleep(0.1)
        time.sleep(1.0)  # the handshakes' last writes
        runs = []
        for version in range(1, events + 1):
            runs.append(asyncio.run_coroutine_threadsafe(fan_out_once(hub, sid, version), loop).result())
            time.sleep(0.2)
    finally:
        done.set()
        holder.join(60)
        httpx.delete(base + path, trust_env=False)
    totals, turns = [r[0] * 1e3 for r in runs], [r[1] * 1e3 for r in runs]
    return {
        "subscribers": n,
        "kind": kind,
        "fanout_ms_median": statistics.median(totals),
        "fanout_ms_max": max(totals),
        "per_subscriber_us": statistics.median(totals) * 1e3 / n,
        "longest_turn_ms_median": statistics.median(turns),
        "longest_turn_ms_max": max(turns),
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    hub_module.FANOUT_SLICE = args.slice
    # The server's sockets here, the subscribers' in a child (which inherits the limit).
    limit = raise_open_files(max(args.subscribers) + 512)
    if limit < max(args.subscribers) + 64:
        raise SystemExit(
            f"fanout-cost: the open-file limit is {limit}; raise its hard limit (README, serve options)"
        )
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny.gguf"
        synthetic_gguf.create(model, TINY)
        with in_process_server(model) as (port, loop, hub):
            for n in args.subscribers:
                for kind in args.kinds:
                    result = measure(port, loop, hub, n, kind, args.events)
                    results.append(result)
                    print(f"fanout-cost: {n} {kind}: {result['fanout_ms_median']:.1f} ms", flush=True)
                    rows.append(
                        (
                            f"{n:,} {kind.upper()}",
                            f"{result['fanout_ms_median']:.1f} / {result['fanout_ms_max']:.1f}",
                            f"{result['per_subscriber_us']:.1f}",
                            f"{result['longest_turn_ms_median']:.2f} / {result['longest_turn_ms_max']:.2f}",
                        )
                    )
    counts = " ".join(map(str, args.subscribers))
    command = f"python -m bench fanout-cost --subscribers {counts} --slice {args.slice}"
    write_json(args.out, {"machine": machine(), "command": command, "slice": args.slice, "results": results})
    header = (
        "subscribers",
        "fan-out ms, median / max",
        "us per subscriber",
        "longest loop turn ms, median / max",
    )
    print(f"{machine_line(machine())}\n\n`{command}`\n\n" + table(header, rows))
    return 0
