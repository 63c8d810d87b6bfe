"""The cache hit: ``/generate`` asked a standing question whose answer is fresh is
answered from that answer, without the model.

Timed in process (``Session.cached_answer``, 20,000 calls) and over HTTP
(``POST /generate``, 5,000 in a row while no data arrives, so that every one
is a hit) through a lean keep-alive ``http.client`` connection and through
``httpx.Client``: what a client waits for an answer that already exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench import engine_state, servers
from bench.clients import Api, RawHttp
from bench.context import Context
from bench.report import table
from bench.stats import percentile
from bench.workload import FLASH_TOKENS, QUESTION, fresh_seed, ohlcv_series
from streaminfer import _core


def cachehit_in_process(model: str, threads: int, n: int = 20_000) -> dict[str, Any]:
    with contextlib.closing(_core.Engine(model, n_ctx=2048, n_threads=threads)) as engine:
        session = engine.create_session(
            engine_state.new_session_id(), "ohlcv", window_size=16, flash=[(QUESTION, FLASH_TOKENS)]
        )
        session.push(ohlcv_series(16, seed=fresh_seed()))
        engine_state.wait_until(
            lambda: engine_state.has_cached_answer(session, QUESTION), 300, "a fresh answer", 0.05
        )
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            hit = engine_state.has_cached_answer(session, QUESTION)
            times.append((time.perf_counter() - t0) * 1e6)
            assert hit
    return {"n": n, "p50_us": percentile(times, 50), "p99_us": percentile(times, 99)}


async def fresh_answer_session(base: str) -> str:
    """A session whose standing question has a fresh answer."""
    api = Api(base)
    try:
        sid = str((await api.init(16, [QUESTION]))["session_id"])
        await api.push(sid, ohlcv_series(16, seed=fresh_seed()))
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
    raw = RawHttp(base)
    with httpx.Client(base_url=base) as hx:

        def via_httpx() -> dict[str, Any]:
            return dict(hx.post(path, content=body, headers={"content-type": "application/json"}).json())

        clients: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
            ("http_client", lambda: raw.post(path, body)),
            ("httpx", via_httpx),
        )
        for name, post in clients:
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


def run(ctx: Context) -> dict[str, Any]:
    in_proc = cachehit_in_process(ctx.model, ctx.threads)
    with servers.ours(ctx.model, 2048, ctx.threads) as base:
        sid = asyncio.run(fresh_answer_session(base))
        http = cachehit_http_run(base, sid, 5000)
    return {"in_process": in_proc, "http": http}


def report(result: dict[str, Any]) -> str:
    ip, http = result["in_process"], result["http"]
    rows: list[tuple[Any, ...]] = [
        ("in process (`Session.cached_answer`)", f"{ip['p50_us'] / 1e3:.4f}", f"{ip['p99_us'] / 1e3:.4f}", "")
    ]
    for name, label in (("http_client", "keep-alive `http.client`"), ("httpx", "`httpx.Client`")):
        v = http[name]
        rows.append(
            (f"HTTP `POST /generate`, {label}", f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", v["misses"])
        )
    return table(("cache hit", "p50 ms", "p99 ms", "misses"), rows)
