"""streaminfer's server side by side with re-prompting llama-server, and against llama-bench.

Sections (all by default; ``--only NAME ...`` picks some):

- ``fresh``: a sliding window of W OHLCV records (W = 16, 64,
  128), B = 4 new records per step, the standing question "Is the trend
  bullish or bearish?" (max_tokens 4). Peer (a): llama-server ``/completion``
  re-prompting system prompt + window + question with ``cache_prompt``;
  peer (b): the same with ``--cache-reuse 64``; ours: push -> fresh flash
  answer. Writes ``bench/fresh_answer_latency.png``.
- ``adhoc`` (at W = ``--adhoc-window``, 64, run with ``fresh``): an ad-hoc question after
  new data arrived: ours ``/generate`` vs the peer answering it over the new window.
- ``ingest``: sustained ingest over HTTP vs llama-bench pp512.
- ``fanout``: time to refresh 1, 5 and 20 flash queries after a batch.
- ``push``: HTTP push records/s (batches of 1, 10, 100), WebSocket
  records/s with 1 and 8 clients, push-ack p50/p99 while the model decodes.
- ``cachehit``: ``/generate`` on a fresh flash answer, in process and over HTTP.

Same model file and threads for every contender; the servers run one at a
time. Prints markdown tables, writes ``bench/out/peer.json``.
Run: ``python bench/bench_peer.py`` (after ``bench/build_peer.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

import benchlib
import servers
from benchlib import OHLCV_QUESTIONS, Record, median, percentile, table
from streaminfer import _core
from streaminfer.models import resolve_model

QUESTION = "Is the trend bullish or bearish?"
ADHOC_QUESTION = "What is the last close?"
FLASH_TOKENS = 4
ADHOC_TOKENS = 8
BATCH = 4
WINDOWS = (16, 64, 128)
ADHOC_WINDOW = 64
INGEST_DEPTH = 1024  # llama-bench -d for the deep comparison
# How often /flash is polled once data_updated arrived (an unchanged answer sends no event).
# The figures use the answer's evaluated_at, so polling slowly adds no latency; polling fast
# would take CPU from the model (the server shares the 2 cores with it).
POLL_S = float(os.environ.get("BENCH_POLL_S", "0.1"))
SECTIONS = ("fresh", "adhoc", "ingest", "fanout", "push", "cachehit")
FANOUT_QUESTIONS = OHLCV_QUESTIONS


def ctx_for(window: int) -> int:
    """The context both servers get: prefix + W records (~43 tokens with a timestamp) + reserve."""
    need = 80 + 48 * window + 256
    return next(c for c in (2048, 4096, 8192, 16384) if c >= need)


def fresh_seed() -> int:
    return secrets.randbits(31)


def now_ms() -> float:
    return time.time() * 1e3


# ---------------------------------------------------------------- prompt text shared with the peer


@dataclass(frozen=True)
class PromptText:
    """The exact text our session holds (prefix + record lines) and the flash question template."""

    prefix: str
    question_tail: str

    def full(self, records: list[Record], question: str) -> str:
        lines = "".join(_core.format_record("ohlcv", r) for r in records)
        return f"{self.prefix}{lines}\nQuestion: {question}{self.question_tail}"


def prompt_text(engine: _core.Engine) -> PromptText:
    session = engine.create_session(f"sess_{secrets.token_hex(12)}", "ohlcv")
    prefix = session.context_text()
    engine.destroy_session(session.session_id)
    # cpp/src/prompt-template.cpp: "\nQuestion: " + text + the chat template's user->assistant turn.
    tail = "<|im_end|>\n<|im_start|>assistant\n" if prefix.startswith("<|im_start|>") else "\nAnswer:"
    return PromptText(prefix, tail)


# ---------------------------------------------------------------- peer (llama-server)


def peer_request(client: httpx.Client, url: str, prompt: str, n_predict: int) -> dict[str, Any]:
    body = {
        "prompt": prompt,
        "n_predict": n_predict,
        "cache_prompt": True,
        "temperature": 0.0,
        "top_k": 1,
        "stop": ["\n"],
    }
    t0 = time.monotonic()
    resp = client.post(url + "/completion", json=body, timeout=600.0)
    wall = time.monotonic() - t0
    resp.raise_for_status()
    out = resp.json()
    timings = out.get("timings", {})
    return {
        "wall_s": wall,
        "text": out.get("content", ""),
        "prompt_n": timings.get("prompt_n"),
        "prompt_ms": timings.get("prompt_ms"),
        "predicted_n": timings.get("predicted_n"),
        "tokens_cached": out.get("tokens_cached"),
    }


def peer_window_run(url: str, text: PromptText, window: int, steps: int, adhoc: bool) -> dict[str, Any]:
    records = benchlib.ohlcv_series(window + 2 * steps * BATCH, seed=fresh_seed())
    with httpx.Client() as client:
        warm = peer_request(client, url, text.full(records[:window], QUESTION), FLASH_TOKENS)
        fresh, ad = [], []
        for step in range(steps):
            end = window + (step + 1) * BATCH
            fresh.append(
                peer_request(client, url, text.full(records[end - window : end], QUESTION), FLASH_TOKENS)
            )
        if adhoc:
            for step in range(steps, 2 * steps):
                end = window + (step + 1) * BATCH
                prompt = text.full(records[end - window : end], ADHOC_QUESTION)
                ad.append(peer_request(client, url, prompt, ADHOC_TOKENS))
    out: dict[str, Any] = {
        "window": window,
        "warm": warm,
        "steps": fresh,
        "median_s": median([s["wall_s"] for s in fresh]),
        "median_prompt_n": median([s["prompt_n"] or 0 for s in fresh]),
    }
    if adhoc:
        out["adhoc_steps"] = ad
        out["adhoc_median_s"] = median([s["wall_s"] for s in ad])
    return out


def peer_mode(
    model: str,
    threads: int,
    text: PromptText,
    windows: tuple[int, ...],
    steps: int,
    cache_reuse: int,
    adhoc_window: int | None,
) -> dict[str, Any]:
    per_w: dict[str, Any] = {}
    for w in windows:
        ctx = ctx_for(w)
        with servers.llama_server(model, ctx, threads, cache_reuse) as url:
            res = peer_window_run(url, text, w, steps, w == adhoc_window)
        res["ctx"] = ctx
        per_w[str(w)] = res
        print(
            f"  peer cache_reuse={cache_reuse} W={w}: median {res['median_s']:.2f} s "
            f"(prompt_n {res['median_prompt_n']:.0f})",
            flush=True,
        )
    cmd = servers.llama_server_cmd("MODEL", 0, threads, 0, cache_reuse)
    return {"cache_reuse": cache_reuse, "command": " ".join(cmd[1:]), "per_window": per_w}


# ---------------------------------------------------------------- ours (streaminfer server)


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

    async def init(self, window: int, flash: list[str], context_size: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "ohlcv",
            "window_size": window,
            "flash": [{"query": q, "max_tokens": FLASH_TOKENS} for q in flash],
        }
        if context_size:
            body["context_size"] = context_size
        return await self.post("/v1/sessions/init", body)

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

    async def wait_settled(self, sid: str, enqueued: int, timeout: float = 600.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await self.status(sid)
            s = status["statistics"]
            if s["total_enqueued"] == enqueued == s["items_processed"]:
                return status
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{sid}: {enqueued} records not decoded within {timeout:.0f} s")


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


@contextlib.asynccontextmanager
async def session_socket(base: str, sid: str) -> AsyncIterator[EventReader]:
    ws_url = base.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    async with connect(ws_url, max_size=None) as ws:
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


async def ours_step(
    api: Api, reader: EventReader, sid: str, records: list[Record], prev: dict[str, Any], adhoc: bool
) -> dict[str, Any]:
    """Push B records over the WebSocket; time until the flash answer is fresh."""
    v0 = prev["current_data_version"]
    old_value = prev["queries"][0]["value"]
    t0_wall, t0 = now_ms(), time.monotonic()
    await reader.ws.send(json.dumps({"type": "push", "data": records}))
    # No polling while the batch decodes: data_updated comes right after it, before the refresh.
    while (got := await reader.next_of(("data_updated",), 600.0)) is not None:
        if got[1]["data"]["data_version"] > v0:
            break
    fl = await api.wait_fresh(sid, v0, poll_s=POLL_S)
    seen = time.monotonic()
    q = fl["queries"][0]
    step: dict[str, Any] = {
        "ready_ms": q["evaluated_at"] - t0_wall,
        "poll_seen_ms": (seen - t0) * 1e3,
        "value": q["value"],
        "changed": q["value"] != old_value,
        "data_version": fl["current_data_version"],
        "versions": fl["current_data_version"] - v0,
    }
    if step["changed"]:
        while True:
            got = await reader.next_of(("flash_ready",), 2.0)
            if got is None:
                step["flash_ready_ms"] = None
                break
            at, frame = got
            if frame["data"]["data_version"] == step["data_version"]:
                step["flash_ready_ms"] = (at - t0) * 1e3
                break
    if adhoc:
        t1 = time.monotonic()
        gen = await api.post(
            f"/v1/sessions/{sid}/generate",
            {"prompt": ADHOC_QUESTION, "max_tokens": ADHOC_TOKENS, "stop": ["\n"]},
        )
        step["adhoc_ms"] = (time.monotonic() - t1) * 1e3
        step["adhoc_text"] = gen["text"]
        step["adhoc_from_cache"] = gen["from_cache"]
    step["flash"] = fl
    return step


async def ours_window_run(base: str, window: int, steps: int, adhoc: bool) -> dict[str, Any]:
    api = Api(base)
    try:
        init = await api.init(window, [QUESTION])
        sid = init["session_id"]
        assert init["window_size"] >= window, init
        records = benchlib.ohlcv_series(window + steps * BATCH, seed=fresh_seed())
        async with session_socket(base, sid) as reader:
            t0 = time.monotonic()
            await reader.ws.send(json.dumps({"type": "push", "data": records[:window]}))
            prev = await api.wait_fresh(sid, 0)
            warm_s = time.monotonic() - t0
            out_steps = []
            for step in range(steps):
                chunk = records[window + step * BATCH : window + (step + 1) * BATCH]
                res = await ours_step(api, reader, sid, chunk, prev, adhoc)
                prev = res.pop("flash")
                out_steps.append(res)
        status = await api.status(sid)
        await api.http.delete(f"/v1/sessions/{sid}")
    finally:
        await api.close()
    out: dict[str, Any] = {
        "window": window,
        "window_size": init["window_size"],
        "warm_s": warm_s,
        "steps": out_steps,
        "median_s": median([s["ready_ms"] for s in out_steps]) / 1e3,
        "status": status,
    }
    delivered = [s["flash_ready_ms"] for s in out_steps if s.get("flash_ready_ms") is not None]
    out["median_flash_ready_s"] = median(delivered) / 1e3 if delivered else None
    if adhoc:
        out["adhoc_median_s"] = median([s["adhoc_ms"] for s in out_steps]) / 1e3
    return out


def ours_fresh(
    model: str, threads: int, windows: tuple[int, ...], steps: int, adhoc_window: int | None
) -> dict[str, Any]:
    per_w: dict[str, Any] = {}
    for w in windows:
        ctx = ctx_for(w)
        with servers.ours(model, ctx, threads) as base:
            res = asyncio.run(ours_window_run(base, w, steps, w == adhoc_window))
        res["ctx"] = ctx
        per_w[str(w)] = res
        print(f"  ours W={w}: median {res['median_s']:.2f} s", flush=True)
    cmd = servers.ours_cmd("MODEL", 0, threads, 0)
    return {"command": " ".join(cmd[1:]), "per_window": per_w}


# ---------------------------------------------------------------- ingest over HTTP


async def ingest_http(base: str, seconds: float, warmup_s: float) -> dict[str, Any]:
    api = Api(base)
    try:
        init = await api.init(0, [])
        sid, window = init["session_id"], init["window_size"]
        records = benchlib.ohlcv_series(100_000, seed=fresh_seed())
        nxt = 0

        async def run_for(duration: float) -> None:
            nonlocal nxt
            end = time.monotonic() + duration
            while time.monotonic() < end:
                st = await api.status(sid)
                in_flight = st["statistics"]["total_enqueued"] - st["statistics"]["items_processed"]
                if in_flight < window // 2:
                    n = window - in_flight
                    await api.push(sid, records[nxt : nxt + n])
                    nxt += n
                # Half a window is seconds of decoding: a slow poll keeps the queue fed
                # without taking the cores from the decode threads it measures.
                await asyncio.sleep(0.1)

        await run_for(warmup_s)
        s0, t0 = await api.status(sid), time.monotonic()
        await run_for(seconds)
        s1, t1 = await api.status(sid), time.monotonic()
        state = await api.get(f"/v1/sessions/{sid}/state")
        await api.http.delete(f"/v1/sessions/{sid}")
    finally:
        await api.close()
    tokens = s1["data"]["total_data_tokens"] - s0["data"]["total_data_tokens"]
    recs = s1["statistics"]["items_processed"] - s0["statistics"]["items_processed"]
    busy = (s1["statistics"]["total_process_time_us"] - s0["statistics"]["total_process_time_us"]) / 1e6
    wall = t1 - t0
    return {
        "window_size": window,
        "wall_s": wall,
        "tokens": tokens,
        "records": recs,
        "tokens_per_s_wall": tokens / wall,
        "records_per_s_wall": recs / wall,
        "tokens_per_s_decode": tokens / busy if busy else 0.0,
        "enqueued": s1["statistics"]["total_enqueued"],
        "processed": s1["statistics"]["items_processed"],
        "pos_next": state["pos_next"],
    }


def ingest(model: str, threads: int, rounds: int, seconds: float) -> dict[str, Any]:
    runs = []
    for r in range(rounds):
        pp = benchlib.llama_bench_pp(model, threads)
        # Our batches land behind the prefix and a full window (pos ~1000-1900 at
        # context 2048), where attention costs more than at llama-bench's depth 0.
        pp_deep = benchlib.llama_bench_pp(model, threads, depth=INGEST_DEPTH)
        with servers.ours(model, 2048, threads) as base:
            res = asyncio.run(ingest_http(base, seconds, warmup_s=5.0))
        res["llama_bench_pp512"] = pp
        res["llama_bench_pp512_deep"] = pp_deep
        res["ratio_wall"] = res["tokens_per_s_wall"] / pp if pp else None
        res["ratio_wall_deep"] = res["tokens_per_s_wall"] / pp_deep if pp_deep else None
        runs.append(res)
        print(
            f"  ingest round {r + 1}: {res['tokens_per_s_wall']:.0f} tok/s over HTTP, pp512 {pp}", flush=True
        )
    keys = (
        "tokens_per_s_wall",
        "records_per_s_wall",
        "tokens_per_s_decode",
        "llama_bench_pp512",
        "ratio_wall",
        "llama_bench_pp512_deep",
        "ratio_wall_deep",
    )
    return {
        "runs": runs,
        "median": {k: median([r[k] for r in runs if r[k] is not None]) for k in keys},
        "llama_bench_command": benchlib.llama_bench_command(threads),
        "llama_bench_command_deep": benchlib.llama_bench_command(threads, depth=INGEST_DEPTH),
    }


# ---------------------------------------------------------------- flash fan-out over the server


async def fanout_run(base: str, counts: tuple[int, ...], steps: int, window: int = 32) -> dict[str, Any]:
    api = Api(base)
    sids: dict[int, str] = {}
    data: dict[int, list[Record]] = {}
    prev: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {str(n): [] for n in counts}
    try:
        for n in counts:
            init = await api.init(window, FANOUT_QUESTIONS[:n])
            sids[n] = init["session_id"]
            data[n] = benchlib.ohlcv_series(window + steps * BATCH, seed=fresh_seed())
            await api.push(sids[n], data[n][:window])
            prev[n] = await api.wait_fresh(sids[n], 0)
        for step in range(steps):
            for n in counts:  # interleaved
                sid = sids[n]
                async with session_socket(base, sid) as reader:
                    chunk = data[n][window + step * BATCH : window + (step + 1) * BATCH]
                    t0_wall = now_ms()
                    await api.push(sid, chunk)
                    got = await reader.next_of(("data_updated",), 120.0)
                    assert got is not None
                    # the arrival time of data_updated on the wall clock of evaluated_at
                    updated_wall = now_ms() - (time.monotonic() - got[0]) * 1e3
                    fl = await api.wait_fresh(sid, prev[n]["current_data_version"], poll_s=POLL_S)
                last_eval = max(q["evaluated_at"] for q in fl["queries"])
                out[str(n)].append(
                    {
                        "refresh_ms": last_eval - updated_wall,
                        "push_to_fresh_ms": last_eval - t0_wall,
                        "versions": fl["current_data_version"] - prev[n]["current_data_version"],
                    }
                )
                prev[n] = fl
        for sid in sids.values():
            await api.http.delete(f"/v1/sessions/{sid}")
    finally:
        await api.close()
    return out


def fanout(model: str, threads: int, steps: int) -> dict[str, Any]:
    counts = (1, 5, 20)
    with servers.ours(model, 2048, threads) as base:
        raw = asyncio.run(fanout_run(base, counts, steps))
    summary: dict[int, dict[str, float]] = {
        n: {
            "median_refresh_ms": median([s["refresh_ms"] for s in raw[str(n)]]),
            "median_push_to_fresh_ms": median([s["push_to_fresh_ms"] for s in raw[str(n)]]),
        }
        for n in counts
    }
    base_ms = summary[1]["median_refresh_ms"]
    for n in counts:
        summary[n]["ratio_vs_1"] = summary[n]["median_refresh_ms"] / base_ms if base_ms else float("nan")
    return {"steps": raw, "median": {str(n): v for n, v in summary.items()}}


# ---------------------------------------------------------------- push path


def record_frames(n_frames: int, per_frame: int, seed: int) -> list[list[Record]]:
    recs = benchlib.ohlcv_series(n_frames * per_frame, seed=seed)
    return [recs[i * per_frame : (i + 1) * per_frame] for i in range(n_frames)]


def http_push_rate(base: str, sid: str, batch: int, seconds: float) -> dict[str, Any]:
    bodies = [json.dumps({"data": f}).encode() for f in record_frames(200, batch, fresh_seed())]
    path = f"/v1/sessions/{sid}/stream/push"
    pushed = dropped = requests = 0
    client = servers.RawHttp(base)
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
    ws_url = base.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    counts = {"pushed": 0, "dropped": 0, "frames": 0}
    async with connect(ws_url, max_size=None) as ws:
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
    frames = [json.dumps({"type": "push", "data": f}) for f in record_frames(50, per_frame, fresh_seed())]
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


async def ack_latency(base: str, sid: str, n: int, interval_s: float) -> dict[str, Any]:
    """Push 4 records per frame, one frame at a time, while the session decodes; time each ack."""
    frames = [json.dumps({"type": "push", "data": f}) for f in record_frames(n, BATCH, fresh_seed())]
    times: list[float] = []
    async with session_socket(base, sid) as reader:
        for frame in frames:
            t0 = time.monotonic()
            await reader.ws.send(frame)
            got = await reader.next_of(("push_ack",), 10.0)
            assert got is not None
            times.append((got[0] - t0) * 1e3)
            await asyncio.sleep(interval_s)
    return {"n": n, "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "max_ms": max(times)}


def http_ack_latency(base: str, sid: str, n: int, interval_s: float) -> dict[str, Any]:
    bodies = [json.dumps({"data": f}).encode() for f in record_frames(n, BATCH, fresh_seed())]
    times: list[float] = []
    client = servers.RawHttp(base)
    try:
        for body in bodies:
            t0 = time.perf_counter()
            client.post(f"/v1/sessions/{sid}/stream/push", body)
            times.append((time.perf_counter() - t0) * 1e3)
            time.sleep(interval_s)
    finally:
        client.close()
    return {"n": n, "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "max_ms": max(times)}


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
            await api.http.delete(f"/v1/sessions/{sid}")
    finally:
        await api.close()
    return out


async def ack_run(base: str, n: int = 1000) -> dict[str, Any]:
    """Push-ack latency (WebSocket, then HTTP) while the session decodes: 4 records every
    5 ms is far more than the model ingests, so it never idles (batches counted)."""
    api = Api(base)
    try:
        sid = (await api.init(0, []))["session_id"]
        await api.push(sid, benchlib.ohlcv_series(64, seed=fresh_seed()))
        before = (await api.status(sid))["statistics"]
        out: dict[str, Any] = {"ws": await ack_latency(base, sid, n, 0.005)}
        out["http"] = await asyncio.to_thread(http_ack_latency, base, sid, n, 0.005)
        after = (await api.status(sid))["statistics"]
        out["batches_decoded_meanwhile"] = after["batches_processed"] - before["batches_processed"]
        out["decode_busy_s"] = (after["total_process_time_us"] - before["total_process_time_us"]) / 1e6
        await api.http.delete(f"/v1/sessions/{sid}")
    finally:
        await api.close()
    return out


def push_path(model: str, threads: int, seconds: float) -> dict[str, Any]:
    capacity = 1_000_000  # so that every record pushed is enqueued (the model cannot keep up)
    with servers.ours(model, 2048, threads, queue_capacity=capacity) as base:
        res = asyncio.run(push_rate_run(base, seconds))
        res["ack"] = asyncio.run(ack_run(base))
    # Side by side: the same acks with the decode threads at the server's own priority.
    with servers.ours(model, 2048, threads, worker_nice=0) as base:
        res["ack_worker_nice_0"] = asyncio.run(ack_run(base))
    res["queue_capacity"] = capacity
    return res


# ---------------------------------------------------------------- cache hit


def cachehit_in_process(model: str, threads: int, n: int = 20_000) -> dict[str, Any]:
    engine = _core.Engine(model, n_ctx=2048, n_threads=threads)
    try:
        session = engine.create_session(
            f"sess_{secrets.token_hex(12)}", "ohlcv", window_size=16, flash=[(QUESTION, FLASH_TOKENS)]
        )
        session.push(benchlib.ohlcv_series(16, seed=fresh_seed()))
        benchlib.wait_until(lambda: session.cached_answer(QUESTION) is not None, 300, "a fresh answer", 0.05)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            hit = session.cached_answer(QUESTION)
            times.append((time.perf_counter() - t0) * 1e6)
            assert hit is not None
    finally:
        engine.close()
    return {"n": n, "p50_us": percentile(times, 50), "p99_us": percentile(times, 99)}


async def fresh_answer_session(base: str) -> str:
    api = Api(base)
    try:
        sid = str((await api.init(16, [QUESTION]))["session_id"])
        await api.push(sid, benchlib.ohlcv_series(16, seed=fresh_seed()))
        await api.wait_fresh(sid, 0)
    finally:
        await api.close()
    return sid


def cachehit_http_run(base: str, sid: str, n: int) -> dict[str, Any]:
    """``POST /generate`` with the flash query's text, ``n`` times in a row (no data arrives
    meanwhile, so every answer is a cache hit), through a lean and through an httpx client."""
    body = json.dumps({"prompt": QUESTION, "max_tokens": FLASH_TOKENS}).encode()
    path = f"/v1/sessions/{sid}/generate"
    out: dict[str, Any] = {"n": n}
    raw = servers.RawHttp(base)
    with httpx.Client(base_url=base) as hx:
        for name, post in (
            ("http_client", lambda: raw.post(path, body)),
            (
                "httpx",
                lambda: dict(
                    hx.post(path, content=body, headers={"content-type": "application/json"}).json()
                ),
            ),
        ):
            times: list[float] = []
            misses = 0
            for _ in range(n):
                t0 = time.perf_counter()
                r = post()
                times.append((time.perf_counter() - t0) * 1e3)
                misses += not r["from_cache"]
            out[name] = {"misses": misses, "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}
    raw.close()
    return out


def cachehit(model: str, threads: int) -> dict[str, Any]:
    in_proc = cachehit_in_process(model, threads)
    with servers.ours(model, 2048, threads) as base:
        sid = asyncio.run(fresh_answer_session(base))
        http = cachehit_http_run(base, sid, 5000)
    return {"in_process": in_proc, "http": http}


# ---------------------------------------------------------------- reports and plot


def fresh_rows(results: dict[str, Any], windows: tuple[int, ...]) -> list[tuple[Any, ...]]:
    rows = []
    for w in windows:
        key = str(w)
        ours = results["ours"]["per_window"][key]
        a = results["peer_a"]["per_window"][key]
        b = results["peer_b"]["per_window"][key]
        rows.append(
            (
                w,
                ours["ctx"],
                f"{ours['median_s']:.2f}",
                f"{a['median_s']:.2f}",
                f"{b['median_s']:.2f}",
                f"{a['median_s'] / ours['median_s']:.1f}x",
                f"{ours['median_s'] / b['median_s']:.2f}x",
                f"{a['median_prompt_n']:.0f} / {b['median_prompt_n']:.0f}",
            )
        )
    return rows


def report_fresh(results: dict[str, Any], windows: tuple[int, ...]) -> str:
    header = (
        "W",
        "ctx",
        "ours s (push -> fresh answer)",
        "peer (a) s",
        "peer (b) s",
        "peer (a) / ours",
        "ours / peer (b)",
        "peer prompt tokens evaluated (a / b)",
    )
    return table(header, fresh_rows(results, windows))


def report_adhoc(results: dict[str, Any], window: int) -> str:
    key = str(window)
    ours = results["ours"]["per_window"][key]["adhoc_median_s"]
    a = results["peer_a"]["per_window"][key]["adhoc_median_s"]
    b = results["peer_b"]["per_window"][key]["adhoc_median_s"]
    rows = [(window, f"{ours:.3f}", f"{a:.2f}", f"{b:.2f}", f"{a / ours:.1f}x", f"{b / ours:.1f}x")]
    return table(
        ("W", "ours /generate s", "peer (a) s", "peer (b) s", "peer (a) / ours", "peer (b) / ours"), rows
    )


def report_ingest(res: dict[str, Any]) -> str:
    def row(label: Any, r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            label,
            f"{r['tokens_per_s_wall']:.0f}",
            f"{r['records_per_s_wall']:.2f}",
            f"{r['tokens_per_s_decode']:.0f}",
            f"{r['llama_bench_pp512'] or 0:.0f}",
            f"{r['ratio_wall'] or 0:.2f}",
            f"{r.get('llama_bench_pp512_deep') or 0:.0f}",
            f"{r.get('ratio_wall_deep') or 0:.2f}",
        )

    rows = [row(i + 1, r) for i, r in enumerate(res["runs"])]
    rows.append(row("median", res["median"]))
    header = (
        "round",
        "ours tok/s (wall, over HTTP)",
        "records/s",
        "tok/s (decode time)",
        "llama-bench pp512",
        "ours / pp512",
        f"pp512 at depth {INGEST_DEPTH}",
        "ours / deep",
    )
    return table(header, rows)


def report_fanout(res: dict[str, Any]) -> str:
    rows = [
        (n, f"{v['median_refresh_ms']:.0f}", f"{v['ratio_vs_1']:.2f}x", f"{v['median_push_to_fresh_ms']:.0f}")
        for n, v in res["median"].items()
    ]
    return table(
        ("flash queries", "refresh ms (data_updated -> last evaluated_at)", "vs 1", "push -> all fresh ms"),
        rows,
    )


def report_push(res: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = [
        (
            f"HTTP `POST /stream/push`, batches of {h['batch']}, 1 client",
            f"{h['records_per_s']:,.0f}",
            h["dropped"],
        )
        for h in res["http"]
    ]
    rows += [
        (
            f"WebSocket, {w['clients']} client(s), {w['records_per_frame']} records per frame",
            f"{w['records_per_s']:,.0f}",
            w["dropped"],
        )
        for w in res["ws"]
    ]
    out = table(("push path (model decoding meanwhile)", "records/s", "dropped"), rows)
    acks = []
    for label, key in (
        ("decode threads at nice +10 (default)", "ack"),
        ("decode threads at nice +0", "ack_worker_nice_0"),
    ):
        if key not in res:
            continue
        r = res[key]
        for path, name in (("WebSocket push_ack", "ws"), ("HTTP push response", "http")):
            v = r[name]
            acks.append(
                (f"{path}, {label}", f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", f"{v['max_ms']:.1f}")
            )
    out += "\n\n" + table(
        ("ack of a 4-record push while the model decodes", "p50 ms", "p99 ms", "max ms"), acks
    )
    return out


def report_cachehit(res: dict[str, Any]) -> str:
    ip, http = res["in_process"], res["http"]
    rows = [
        (
            "in process (`Session.cached_answer`)",
            f"{ip['p50_us'] / 1e3:.4f}",
            f"{ip['p99_us'] / 1e3:.4f}",
            "",
        ),
        (
            "HTTP `POST /generate`, keep-alive `http.client`",
            f"{http['http_client']['p50_ms']:.2f}",
            f"{http['http_client']['p99_ms']:.2f}",
            http["http_client"]["misses"],
        ),
        (
            "HTTP `POST /generate`, `httpx.Client`",
            f"{http['httpx']['p50_ms']:.2f}",
            f"{http['httpx']['p99_ms']:.2f}",
            http["httpx"]["misses"],
        ),
    ]
    return table(("cache hit", "p50 ms", "p99 ms", "misses"), rows)


def plot(results: dict[str, Any], windows: tuple[int, ...], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        ("peer (a): /completion + cache_prompt", "peer_a", "o-"),
        ("peer (b): + --cache-reuse 64", "peer_b", "s-"),
        ("streaminfer: push -> fresh flash answer", "ours", "^-"),
    ]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for label, key, style in series:
        ax.plot(
            list(windows),
            [results[key]["per_window"][str(w)]["median_s"] for w in windows],
            style,
            label=label,
        )
    ax.set_xlabel("window W (OHLCV records in context)")
    ax.set_ylabel("fresh-answer latency, median (s)")
    ax.set_yscale("log")
    ax.set_xticks(list(windows))
    ax.set_title("New data (4 records) -> fresh answer, SmolLM2-135M Q4_1, 2 threads", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="known model name or GGUF path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=4, help="fresh-answer steps per W and contender")
    p.add_argument("--windows", type=int, nargs="+", default=list(WINDOWS))
    p.add_argument("--adhoc-window", type=int, default=ADHOC_WINDOW, help="the W of the ad-hoc comparison")
    p.add_argument("--rounds", type=int, default=3, help="ingest rounds (llama-bench + ours each)")
    p.add_argument("--ingest-seconds", type=float, default=20.0)
    p.add_argument("--push-seconds", type=float, default=5.0)
    p.add_argument("--fanout-steps", type=int, default=5)
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--out", default="peer.json", help="file name under bench/out/")
    p.add_argument("--report", action="store_true", help="only print the tables of an earlier --out JSON")
    p.add_argument("--plot", default=str(benchlib.ROOT / "bench" / "fresh_answer_latency.png"))
    return p.parse_args()


def timed(name: str, fn: Callable[[], Any]) -> Any:
    print(f"== {name}", flush=True)
    t0 = time.monotonic()
    result = fn()
    print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    return result


def run_fresh(args: argparse.Namespace, model: str, windows: tuple[int, ...]) -> dict[str, Any]:
    engine = _core.Engine(model, n_ctx=512, n_threads=1)
    try:
        text = prompt_text(engine)
    finally:
        engine.close()
    adhoc = args.adhoc_window if "adhoc" in args.only else None
    out: dict[str, Any] = {
        "question": QUESTION,
        "adhoc_question": ADHOC_QUESTION,
        "batch": BATCH,
        "max_tokens": FLASH_TOKENS,
        "steps": args.steps,
        "prompt_prefix": text.prefix,
    }
    out["peer_a"] = timed(
        "peer (a)", lambda: peer_mode(model, args.threads, text, windows, args.steps, 0, adhoc)
    )
    out["peer_b"] = timed(
        "peer (b)", lambda: peer_mode(model, args.threads, text, windows, args.steps, 64, adhoc)
    )
    out["ours"] = timed("ours", lambda: ours_fresh(model, args.threads, windows, args.steps, adhoc))
    return out


def measure(args: argparse.Namespace, model: str, windows: tuple[int, ...]) -> dict[str, Any]:
    """Runs the chosen sections, saving the JSON after each one."""
    res: dict[str, Any] = {
        "machine": benchlib.machine(),
        "model": model,
        "threads": args.threads,
        "args": vars(args),
        "load_before": os.getloadavg(),
    }
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("fresh", lambda: run_fresh(args, model, windows)),
        (
            "ingest",
            lambda: timed("ingest", lambda: ingest(model, args.threads, args.rounds, args.ingest_seconds)),
        ),
        ("fanout", lambda: timed("fanout", lambda: fanout(model, args.threads, args.fanout_steps))),
        ("push", lambda: timed("push", lambda: push_path(model, args.threads, args.push_seconds))),
        ("cachehit", lambda: timed("cachehit", lambda: cachehit(model, args.threads))),
    ]
    for name, run in sections:
        if name in args.only:
            res[name] = run()
            benchlib.write_json(args.out, res)
    res["load_after"] = os.getloadavg()
    return res


def report(res: dict[str, Any]) -> str:
    args = res["args"]
    windows = tuple(args["windows"])
    out = [
        f"# Peer benchmark\n\n{benchlib.machine_line(res['machine'])}; model {res['model']}; "
        f"{res['threads']} threads\n"
    ]
    if "fresh" in res:
        out.append(f"## fresh answer\n\n{report_fresh(res['fresh'], windows)}\n")
        if "adhoc" in args["only"] and args["adhoc_window"] in windows:
            out.append(f"## ad-hoc question\n\n{report_adhoc(res['fresh'], args['adhoc_window'])}\n")
    reports: dict[str, Callable[[dict[str, Any]], str]] = {
        "ingest": report_ingest,
        "fanout": report_fanout,
        "push": report_push,
        "cachehit": report_cachehit,
    }
    for name, fn in reports.items():
        if name in res:
            out.append(f"## {name}\n\n{fn(res[name])}\n")
    return "\n".join(out)


def main() -> int:
    args = parse_args()
    if args.report:
        res = json.loads((benchlib.OUT_DIR / args.out).read_text())
    else:
        res = measure(args, str(resolve_model(args.model)), tuple(args.windows))
    if "fresh" in res and not args.report:
        plot(res["fresh"], tuple(res["args"]["windows"]), args.plot)
    print(report(res))
    print(f"JSON: {benchlib.OUT_DIR / args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
