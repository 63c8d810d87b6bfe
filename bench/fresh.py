"""The fresh answer: new data in, the standing question's answer out, ours against
llama-server re-prompting the window on every batch.

A sliding window of W OHLCV records (W = 16, 64, 128), B = 4 new random
records per step, the standing question "Is the trend bullish or bearish?"
(max_tokens 4). Peer (a): llama-server ``/completion`` re-prompting system
prompt + window + question with ``cache_prompt``; peer (b): the same with
``--cache-reuse 64``; ours: push over the WebSocket -> the flash answer's
``evaluated_at`` (the core's clock when the answer exists). The servers run
one at a time, with the same model file and threads. Also runs the ad-hoc
question (``bench/adhoc.py``) when asked for, and draws the figure
``bench/fresh_answer_latency.png``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import httpx

from bench import adhoc, servers
from bench.clients import POLL_S, Api, EventReader, now_ms, session_socket
from bench.context import Context
from bench.peer import PromptText, completion, llama_server_command, prompt_text, require
from bench.plot import fresh_answer_latency
from bench.report import table, timed
from bench.stats import median
from bench.workload import BATCH, FLASH_TOKENS, QUESTION, Record, fresh_seed, ohlcv_series
from streaminfer.server.launch import serve_command


def ctx_for(window: int) -> int:
    """The context both servers get: prefix + W records (~43 tokens with a timestamp) + reserve."""
    need = 80 + 48 * window + 256
    return next(c for c in (2048, 4096, 8192, 16384) if c >= need)


def peer_window_run(url: str, text: PromptText, window: int, steps: int, ask: bool) -> dict[str, Any]:
    """``steps`` batches, the whole window and the question re-sent after each."""
    records = ohlcv_series(window + 2 * steps * BATCH, seed=fresh_seed())
    with httpx.Client() as client:
        warm = completion(client, url, text.full(records[:window], QUESTION), FLASH_TOKENS)
        fresh = []
        for step in range(steps):
            end = window + (step + 1) * BATCH
            fresh.append(
                completion(client, url, text.full(records[end - window : end], QUESTION), FLASH_TOKENS)
            )
        asked = adhoc.peer_answers(client, url, text, records, window, steps) if ask else []
    out: dict[str, Any] = {
        "window": window,
        "warm": warm,
        "steps": fresh,
        "median_s": median([s["wall_s"] for s in fresh]),
        "median_prompt_n": median([s["prompt_n"] or 0 for s in fresh]),
    }
    if ask:
        out["adhoc_steps"] = asked
        out["adhoc_median_s"] = median([s["wall_s"] for s in asked])
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
    cmd = llama_server_command("MODEL", 0, threads, 0, cache_reuse)
    return {"cache_reuse": cache_reuse, "command": " ".join(cmd[1:]), "per_window": per_w}


async def ours_step(
    api: Api, reader: EventReader, sid: str, records: list[Record], prev: dict[str, Any], ask: bool
) -> dict[str, Any]:
    """Push B records over the WebSocket; time until the flash answer is fresh."""
    v0 = prev["current_data_version"]
    old_value = prev["queries"][0]["value"]
    t0_wall, t0 = now_ms(), time.monotonic()
    await reader.push(records)
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
    if ask:
        step.update(await adhoc.ours_answer(api, sid))
    step["flash"] = fl
    return step


async def ours_window_run(base: str, window: int, steps: int, ask: bool) -> dict[str, Any]:
    api = Api(base)
    try:
        init = await api.init(window, [QUESTION])
        sid = init["session_id"]
        assert init["window_size"] >= window, init
        records = ohlcv_series(window + steps * BATCH, seed=fresh_seed())
        async with session_socket(base, sid) as reader:
            t0 = time.monotonic()
            await reader.push(records[:window])
            prev = await api.wait_fresh(sid, 0)
            warm_s = time.monotonic() - t0
            out_steps = []
            for step in range(steps):
                chunk = records[window + step * BATCH : window + (step + 1) * BATCH]
                res = await ours_step(api, reader, sid, chunk, prev, ask)
                prev = res.pop("flash")
                out_steps.append(res)
        status = await api.status(sid)
        await api.delete(sid)
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
    if ask:
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
    cmd = serve_command("MODEL", 0, *servers.ours_options(0, threads))
    return {"command": " ".join(cmd[1:]), "per_window": per_w}


def run(ctx: Context) -> dict[str, Any]:
    """Every W of ``--windows`` (only the ad-hoc W when ``adhoc`` is asked for without
    ``fresh``); the ad-hoc question at its W when ``adhoc`` is asked for."""
    require("llama-server")
    args = ctx.args
    asked = "adhoc" in ctx.selected
    windows = tuple(args.windows) if "fresh" in ctx.selected else (args.adhoc_window,)
    adhoc_window = args.adhoc_window if asked else None
    text = prompt_text(ctx.model)
    out: dict[str, Any] = {
        "question": QUESTION,
        "adhoc_question": adhoc.ADHOC_QUESTION,
        "batch": BATCH,
        "max_tokens": FLASH_TOKENS,
        "steps": args.steps,
        "prompt_prefix": text.prefix,
    }
    for key, label, reuse in (("peer_a", "peer (a)", 0), ("peer_b", "peer (b)", 64)):
        contender = functools.partial(
            peer_mode, ctx.model, ctx.threads, text, windows, args.steps, reuse, adhoc_window
        )
        out[key] = timed(label, contender)
    out["ours"] = timed("ours", lambda: ours_fresh(ctx.model, ctx.threads, windows, args.steps, adhoc_window))
    fresh_answer_latency(out, windows, args.plot)
    return out


def report(result: dict[str, Any]) -> str:
    rows = []
    for key, ours in result["ours"]["per_window"].items():
        a = result["peer_a"]["per_window"][key]
        b = result["peer_b"]["per_window"][key]
        rows.append(
            (
                key,
                ours["ctx"],
                f"{ours['median_s']:.2f}",
                f"{a['median_s']:.2f}",
                f"{b['median_s']:.2f}",
                f"{a['median_s'] / ours['median_s']:.1f}x",
                f"{ours['median_s'] / b['median_s']:.2f}x",
                f"{a['median_prompt_n']:.0f} / {b['median_prompt_n']:.0f}",
            )
        )
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
    return table(header, rows)
