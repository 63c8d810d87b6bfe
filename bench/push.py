"""The push path while the model decodes: records/s accepted over HTTP (batches of 1,
10, 100) and over WebSocket (1 and 8 clients, 100 and 1000 records per frame),
and the latency of the acknowledgement of a 4-record push.

The queue holds a million records, so every record pushed is enqueued: the
figures are what the event loop accepts, not what the model decodes. The
acks are timed twice, with the decode threads at nice +10 (the default: they
yield to the event loop) and at the server's own priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import connect

from bench import servers
from bench.clients import Api, RawHttp, session_socket, ws_url
from bench.context import Context
from bench.report import table
from bench.stats import latency_summary
from bench.workload import BATCH, fresh_seed, ohlcv_frames, ohlcv_series

QUEUE_CAPACITY = 1_000_000  # so that every record pushed is enqueued (the model cannot keep up)


def http_push_rate(base: str, sid: str, batch: int, seconds: float) -> dict[str, Any]:
    """``POST /stream/push`` back to back on one keep-alive connection."""
    bodies = [json.dumps({"data": f}).encode() for f in ohlcv_frames(200, batch)]
    path = f"/v1/sessions/{sid}/stream/push"
    pushed = dropped = requests = 0
    client = RawHttp(base)
    try:
        end = time.monotonic() + seconds
        t0 = time.monotonic()
        while time.monotonic() < end:
            r = client.post(path, bodies[requests % len(bodies)])
            pushed += r["pushed"]
            dropped += r["dropped"]
            requests += 1
        wall = time.monotonic() - t0
    finally:
        client.close()
    return {
        "batch": batch,
        "records_per_s": (pushed + dropped) / wall,
        "pushed": pushed,
        "dropped": dropped,
        "requests_per_s": requests / wall,
    }


async def ws_client_rate(
    base: str, sid: str, frames: list[str], seconds: float, in_flight: int = 16
) -> dict[str, int]:
    counts = {"pushed": 0, "dropped": 0, "frames": 0}
    async with connect(ws_url(base, sid), max_size=None) as ws:
        await ws.recv()  # connected
        window = asyncio.Semaphore(in_flight)
        stop = time.monotonic() + seconds

        async def reader() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "push_ack":
                    counts["pushed"] += frame["data"]["pushed"]
                    counts["dropped"] += frame["data"]["dropped"]
                    counts["frames"] += 1
                    window.release()

        task = asyncio.ensure_future(reader())
        i = 0
        while time.monotonic() < stop:
            await window.acquire()
            await ws.send(frames[i % len(frames)])
            i += 1
        for _ in range(in_flight):  # drain the acks still in flight
            await asyncio.wait_for(window.acquire(), 30.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return counts


async def ws_rate(base: str, sids: list[str], seconds: float, per_frame: int) -> dict[str, Any]:
    """Each client keeps 16 push frames in flight on its own session; records acked per second."""
    frames = [json.dumps({"type": "push", "data": f}) for f in ohlcv_frames(50, per_frame)]
    t0 = time.monotonic()
    results = await asyncio.gather(*(ws_client_rate(base, sid, frames, seconds) for sid in sids))
    wall = time.monotonic() - t0
    pushed = sum(r["pushed"] for r in results)
    dropped = sum(r["dropped"] for r in results)
    return {
        "clients": len(sids),
        "records_per_frame": per_frame,
        "records_per_s": (pushed + dropped) / wall,
        "pushed": pushed,
        "dropped": dropped,
        "wall_s": wall,
    }


async def ws_ack_latency(base: str, sid: str, n: int, interval_s: float) -> dict[str, Any]:
    """Push 4 records per frame, one frame at a time, while the session decodes; time each ack."""
    times: list[float] = []
    async with session_socket(base, sid) as reader:
        for frame in ohlcv_frames(n, BATCH):
            t0 = time.monotonic()
            await reader.push(frame)
            got = await reader.next_of(("push_ack",), 10.0)
            assert got is not None
            times.append((got[0] - t0) * 1e3)
            await asyncio.sleep(interval_s)
    return latency_summary(times)


def http_ack_latency(base: str, sid: str, n: int, interval_s: float) -> dict[str, Any]:
    """The same pushes as ``ws_ack_latency`` over HTTP: the time of each response."""
    bodies = [json.dumps({"data": f}).encode() for f in ohlcv_frames(n, BATCH)]
    times: list[float] = []
    client = RawHttp(base)
    try:
        for body in bodies:
            t0 = time.perf_counter()
            client.post(f"/v1/sessions/{sid}/stream/push", body)
            times.append((time.perf_counter() - t0) * 1e3)
            time.sleep(interval_s)
    finally:
        client.close()
    return latency_summary(times)


async def push_rate_run(base: str, seconds: float) -> dict[str, Any]:
    api = Api(base)
    try:
        sids = [(await api.init(0, []))["session_id"] for _ in range(9)]
        out: dict[str, Any] = {"http": [], "ws": []}
        for batch in (1, 10, 100):
            out["http"].append(await asyncio.to_thread(http_push_rate, base, sids[0], batch, seconds))
        for per_frame in (100, 1000):
            out["ws"].append(await ws_rate(base, sids[:1], seconds, per_frame))
            out["ws"].append(await ws_rate(base, sids[1:9], seconds, per_frame))
        for sid in sids:
            await api.delete(sid)
    finally:
        await api.close()
    return out


async def ack_run(base: str, n: int = 1000) -> dict[str, Any]:
    """Push-ack latency (WebSocket, then HTTP) while the session decodes: 4 records every
    5 ms is far more than the model ingests, so it never idles (batches counted)."""
    api = Api(base)
    try:
        sid = (await api.init(0, []))["session_id"]
        await api.push(sid, ohlcv_series(64, seed=fresh_seed()))
        before = (await api.status(sid))["statistics"]
        out: dict[str, Any] = {"ws": await ws_ack_latency(base, sid, n, 0.005)}
        out["http"] = await asyncio.to_thread(http_ack_latency, base, sid, n, 0.005)
        after = (await api.status(sid))["statistics"]
        out["batches_decoded_meanwhile"] = after["batches_processed"] - before["batches_processed"]
        out["decode_busy_s"] = (after["total_process_time_us"] - before["total_process_time_us"]) / 1e6
        await api.delete(sid)
    finally:
        await api.close()
    return out


def run(ctx: Context) -> dict[str, Any]:
    with servers.ours(ctx.model, 2048, ctx.threads, queue_capacity=QUEUE_CAPACITY) as base:
        res = asyncio.run(push_rate_run(base, ctx.args.push_seconds))
        res["ack"] = asyncio.run(ack_run(base))
    # Side by side: the same acks with the decode threads at the server's own priority.
    with servers.ours(ctx.model, 2048, ctx.threads, worker_nice=0) as base:
        res["ack_worker_nice_0"] = asyncio.run(ack_run(base))
    res["queue_capacity"] = QUEUE_CAPACITY
    return res


def report(result: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = [
        (
            f"HTTP `POST /stream/push`, batches of {h['batch']}, 1 client",
            f"{h['records_per_s']:,.0f}",
            h["dropped"],
        )
        for h in result["http"]
    ]
    rows += [
        (
            f"WebSocket, {w['clients']} client(s), {w['records_per_frame']} records per frame",
            f"{w['records_per_s']:,.0f}",
            w["dropped"],
        )
        for w in result["ws"]
    ]
    out = table(("push path (model decoding meanwhile)", "records/s", "dropped"), rows)
    acks = []
    for label, key in (
        ("decode threads at nice +10 (default)", "ack"),
        ("decode threads at nice +0", "ack_worker_nice_0"),
    ):
        for path, name in (("WebSocket push_ack", "ws"), ("HTTP push response", "http")):
            if key in result:
                v = result[key][name]
                acks.append(
                    (f"{path}, {label}", f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", f"{v['max_ms']:.1f}")
                )
    out += "\n\n" + table(
        ("ack of a 4-record push while the model decodes", "p50 ms", "p99 ms", "max ms"), acks
    )
    return out
