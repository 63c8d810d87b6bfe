"""Flash refresh in process: how long answering 1, 5 and 20 standing questions takes
after each batch of 4 new records (window 32 OHLCV records, max_tokens 4).

The queries decode side by side, so generation steps are shared; what grows
with their number is prefilling each question on its own copy of the live
sequence. Reported: the core's own refresh time (``last_flash_time_us``) and
the wall clock from the push until every answer is fresh. The counts are
measured interleaved, batch by batch, so that they see the same machine.
"""

from __future__ import annotations

import time
from typing import Any

from bench import engine_state
from bench.context import Context
from bench.report import table
from bench.stats import median
from bench.workload import FLASH_TOKENS, OHLCV_QUESTIONS, ohlcv_series
from streaminfer import _core

COUNTS = (1, 5, 20)


def flash_fanout(
    engine: _core.Engine, counts: tuple[int, ...], steps: int, batch: int = 4, window: int = 32
) -> dict[str, Any]:
    sessions: dict[int, _core.Session] = {}
    enqueued: dict[int, int] = {}
    seed = int(time.time())
    data = {n: ohlcv_series(window + steps * batch, seed=seed + n) for n in counts}
    for n in counts:
        flash = [(q, FLASH_TOKENS) for q in OHLCV_QUESTIONS[:n]]
        sessions[n] = engine.create_session(
            engine_state.new_session_id(), "ohlcv", window_size=window, flash=flash
        )
        engine_state.fill(sessions[n], data[n][:window])
        enqueued[n] = window
    times: dict[int, list[dict[str, int]]] = {n: [] for n in counts}
    for step in range(steps):
        for n in counts:  # interleaved: the counts see the same machine state
            s = sessions[n]
            runs0 = engine_state.snapshot(s).flash_runs
            chunk = data[n][window + step * batch : window + (step + 1) * batch]
            t0 = time.monotonic()
            s.push(chunk)
            enqueued[n] += len(chunk)
            engine_state.wait_settled(s, enqueued[n])
            engine_state.wait_flash_fresh(s)
            wall_us = int((time.monotonic() - t0) * 1e6)
            st = engine_state.snapshot(s)
            times[n].append(
                {
                    "last_flash_time_us": st.last_flash_time_us,
                    "flash_runs": st.flash_runs - runs0,
                    "push_to_fresh_us": wall_us,
                }
            )
    out: dict[str, Any] = {
        "window": window,
        "batch": batch,
        "max_tokens": FLASH_TOKENS,
        "steps": steps,
        "per_count": {},
    }
    for n in counts:
        out["per_count"][str(n)] = {
            "steps": times[n],
            "median_last_flash_ms": median([t["last_flash_time_us"] for t in times[n]]) / 1e3,
            "avg_flash_time_ms": engine_state.snapshot(sessions[n]).avg_flash_time_us / 1e3,
            "median_push_to_fresh_ms": median([t["push_to_fresh_us"] for t in times[n]]) / 1e3,
            "query_tokens": engine_state.flash_query_tokens(sessions[n]),
        }
        engine.destroy_session(sessions[n].session_id)
    base = out["per_count"][str(counts[0])]["median_last_flash_ms"]
    for n in counts:
        pc = out["per_count"][str(n)]
        pc["ratio_vs_1"] = pc["median_last_flash_ms"] / base if base else None
    return out


def run(ctx: Context) -> dict[str, Any]:
    return flash_fanout(ctx.engine(), COUNTS, ctx.args.flash_steps)


def report(result: dict[str, Any]) -> str:
    rows = [
        (
            n,
            pc["query_tokens"],
            f"{pc['median_last_flash_ms']:.0f}",
            f"{pc['avg_flash_time_ms']:.0f}",
            f"{pc['ratio_vs_1']:.2f}x",
            f"{pc['median_push_to_fresh_ms']:.0f}",
        )
        for n, pc in result["per_count"].items()
    ]
    header = (
        "flash queries",
        "question tokens",
        "refresh ms (median last_flash_time_us)",
        "avg_flash_time_us (ms)",
        "vs 1 query",
        "push -> all fresh ms (4 records + refresh)",
    )
    return table(header, rows)
