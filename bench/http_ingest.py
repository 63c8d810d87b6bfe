"""Sustained ingest over HTTP: tokens/s and records/s our server decodes at steady
state, records pushed with ``POST /stream/push`` no faster than decoded, beside
llama-bench pp512 and pp512 at depth 1024, alternating ``--rounds`` times.

Our batches land behind the prefix and a full window (positions ~1000-1900 at
context 2048), where attention costs more than at llama-bench's depth 0:
the deep figure compares at equal depth.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import peer, servers
from bench.clients import Api
from bench.context import Context
from bench.ingest import rates
from bench.report import table
from bench.stats import medians, ratio
from bench.workload import fresh_seed, ohlcv_series

SUMMARY_KEYS = (
    "tokens_per_s_wall",
    "records_per_s_wall",
    "tokens_per_s_decode",
    "llama_bench_pp512",
    "ratio_wall",
    "llama_bench_pp512_deep",
    "ratio_wall_deep",
)


async def ingest_http(base: str, seconds: float, warmup_s: float) -> dict[str, Any]:
    api = Api(base)
    try:
        init = await api.init(0, [])
        sid, window = init["session_id"], init["window_size"]
        records = ohlcv_series(100_000, seed=fresh_seed())
        nxt = 0

        async def run_for(duration: float) -> None:
            nonlocal nxt
            end = time.monotonic() + duration
            while time.monotonic() < end:
                st = (await api.status(sid))["statistics"]
                in_flight = st["total_enqueued"] - st["items_processed"]
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
        await api.delete(sid)
    finally:
        await api.close()
    tokens = s1["data"]["total_data_tokens"] - s0["data"]["total_data_tokens"]
    recs = s1["statistics"]["items_processed"] - s0["statistics"]["items_processed"]
    busy = (s1["statistics"]["total_process_time_us"] - s0["statistics"]["total_process_time_us"]) / 1e6
    return {
        "window_size": window,
        **rates(tokens, recs, t1 - t0, busy),
        "enqueued": s1["statistics"]["total_enqueued"],
        "processed": s1["statistics"]["items_processed"],
        "pos_next": state["pos_next"],
    }


def run(ctx: Context) -> dict[str, Any]:
    def measure() -> dict[str, Any]:
        with servers.ours(ctx.model, 2048, ctx.threads) as base:
            return asyncio.run(ingest_http(base, ctx.args.ingest_seconds, warmup_s=5.0))

    runs = peer.beside_llama_bench(
        ctx.model, ctx.threads, ctx.args.rounds, measure, deep_reps=3, deep_key="llama_bench_pp512_deep"
    )
    for r in runs:
        r["ratio_wall_deep"] = ratio(r["tokens_per_s_wall"], r["llama_bench_pp512_deep"])
    return {
        "runs": runs,
        "median": medians(runs, SUMMARY_KEYS),
        "llama_bench_command": peer.llama_bench_command(ctx.threads),
        "llama_bench_command_deep": peer.llama_bench_command(ctx.threads, depth=peer.DEPTH),
    }


def report(result: dict[str, Any]) -> str:
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

    rows = [row(i + 1, r) for i, r in enumerate(result["runs"])]
    rows.append(row("median", result["median"]))
    header = (
        "round",
        "ours tok/s (wall, over HTTP)",
        "records/s",
        "tok/s (decode time)",
        "llama-bench pp512",
        "ours / pp512",
        f"pp512 at depth {peer.DEPTH}",
        "ours / deep",
    )
    return table(header, rows)
