"""Sustained ingest in process: tokens/s and records/s the engine decodes at steady
state, side by side with llama-bench's prompt-processing rate (pp512, and pp512
at depth 1024) for the same model and threads, alternating ``--rounds`` times.

Records are pushed no faster than they are decoded (between half a window and a
window in flight), so nothing is skipped and the decoder never idles: the
figure is the engine's own ingest rate, which the peer's pp512 bounds.
"""

from __future__ import annotations

import time
from typing import Any

from bench import engine_state, peer
from bench.context import Context
from bench.report import table
from bench.stats import medians, ratio
from bench.workload import ohlcv_series
from streaminfer import _core

SUMMARY_KEYS = (
    "tokens_per_s_wall",
    "tokens_per_s_decode",
    "records_per_s_wall",
    "records_per_s_decode",
    "llama_bench_pp512",
    "llama_bench_pp512_d1024",
    "ratio_wall",
    "ratio_decode",
    "tokens_per_record",
)


def rates(tokens: int, records: int, wall_s: float, busy_s: float) -> dict[str, float]:
    """Ingest rates over ``wall_s`` of wall clock and ``busy_s`` of decode-thread time."""
    return {
        "wall_s": wall_s,
        "tokens": tokens,
        "records": records,
        "tokens_per_s_wall": tokens / wall_s,
        "records_per_s_wall": records / wall_s,
        "tokens_per_s_decode": tokens / busy_s if busy_s else 0.0,
        "records_per_s_decode": records / busy_s if busy_s else 0.0,
        "tokens_per_record": tokens / max(1, records),
    }


def sustained_ingest(engine: _core.Engine, seconds: float, warmup_s: float) -> dict[str, Any]:
    """Keep between half a window and a window of records in flight, so the decoder never
    idles and nothing is skipped; measure over ``seconds`` after ``warmup_s``."""
    session = engine.create_session(engine_state.new_session_id(), "ohlcv")
    window = session.window_size
    records = ohlcv_series(200_000, seed=int(time.time()))
    nxt = 0

    def run_for(duration: float) -> None:
        nonlocal nxt
        end = time.monotonic() + duration
        while time.monotonic() < end:
            in_flight = engine_state.snapshot(session).in_flight
            if in_flight < window // 2:
                n = window - in_flight
                session.push(records[nxt : nxt + n])
                nxt += n
            time.sleep(0.002)

    run_for(warmup_s)
    s0, t0 = engine_state.snapshot(session), time.monotonic()
    run_for(seconds)
    s1, t1 = engine_state.snapshot(session), time.monotonic()
    engine.destroy_session(session.session_id)
    busy_s = (s1.process_time_us - s0.process_time_us) / 1e6
    return {
        "window_size": window,
        **rates(s1.data_tokens - s0.data_tokens, s1.processed - s0.processed, t1 - t0, busy_s),
        "batches": s1.batches - s0.batches,
        "skipped_total": s1.skipped,
        "evicted_total": s1.evicted,
        "depth_end": s1.pos_next,
    }


def run(ctx: Context) -> dict[str, Any]:
    engine, args = ctx.engine(), ctx.args
    runs = peer.beside_llama_bench(
        ctx.model,
        ctx.threads,
        args.rounds,
        lambda: sustained_ingest(engine, args.ingest_seconds, warmup_s=5.0),
        deep_reps=2,
        deep_key="llama_bench_pp512_d1024",
    )
    for r in runs:
        r["ratio_decode"] = ratio(r["tokens_per_s_decode"], r["llama_bench_pp512"])
    return {
        "runs": runs,
        "median": medians(runs, SUMMARY_KEYS),
        "seconds": args.ingest_seconds,
        "llama_bench_command": peer.llama_bench_command(ctx.threads),
        "llama_bench_depth_command": peer.llama_bench_command(ctx.threads, depth=peer.DEPTH, reps=2),
    }


def report(result: dict[str, Any]) -> str:
    def row(label: Any, r: dict[str, Any], skipped: Any) -> tuple[Any, ...]:
        return (
            label,
            f"{r['tokens_per_s_wall']:.0f}",
            f"{r['tokens_per_s_decode']:.0f}",
            f"{r['records_per_s_wall']:.2f}",
            f"{r['llama_bench_pp512'] or 0:.0f}",
            f"{r['llama_bench_pp512_d1024'] or 0:.0f}",
            f"{r['ratio_wall'] or 0:.2f}",
            skipped,
        )

    m = result["median"]
    rows = [row(i + 1, r, r["skipped_total"]) for i, r in enumerate(result["runs"])]
    rows.append(row("median", m, ""))
    header = (
        "round",
        "ours tok/s (wall)",
        "ours tok/s (decode time)",
        "ours records/s",
        "llama-bench pp512 tok/s",
        "pp512 @ depth 1024",
        "ours wall / pp512",
        "skipped",
    )
    return table(header, rows) + f"\n\nTokens per record in context: {m['tokens_per_record']:.1f}"
