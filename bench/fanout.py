"""Flash fan-out over the server: after a batch of 4 records, how long until 1, 5 and
20 standing questions are all answered again (window 32, max_tokens 4).

The refresh is timed on the server's clock, from the ``data_updated`` event
(the batch decoded) to the last answer's ``evaluated_at``; also from the push
to the last answer. The counts are measured interleaved, batch by batch.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import servers
from bench.clients import POLL_S, Api, now_ms, session_socket
from bench.context import Context
from bench.report import table
from bench.stats import median
from bench.workload import BATCH, OHLCV_QUESTIONS, Record, fresh_seed, ohlcv_series

COUNTS = (1, 5, 20)


async def fanout_run(base: str, counts: tuple[int, ...], steps: int, window: int = 32) -> dict[str, Any]:
    api = Api(base)
    sids: dict[int, str] = {}
    data: dict[int, list[Record]] = {}
    prev: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {str(n): [] for n in counts}
    try:
        for n in counts:
            init = await api.init(window, OHLCV_QUESTIONS[:n])
            sids[n] = init["session_id"]
            data[n] = ohlcv_series(window + steps * BATCH, seed=fresh_seed())
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
            await api.delete(sid)
    finally:
        await api.close()
    return out


def run(ctx: Context) -> dict[str, Any]:
    with servers.ours(ctx.model, 2048, ctx.threads) as base:
        raw = asyncio.run(fanout_run(base, COUNTS, ctx.args.fanout_steps))
    summary: dict[int, dict[str, float]] = {
        n: {
            "median_refresh_ms": median([s["refresh_ms"] for s in raw[str(n)]]),
            "median_push_to_fresh_ms": median([s["push_to_fresh_ms"] for s in raw[str(n)]]),
        }
        for n in COUNTS
    }
    base_ms = summary[COUNTS[0]]["median_refresh_ms"]
    for n in COUNTS:
        summary[n]["ratio_vs_1"] = summary[n]["median_refresh_ms"] / base_ms if base_ms else float("nan")
    return {"steps": raw, "median": {str(n): v for n, v in summary.items()}}


def report(result: dict[str, Any]) -> str:
    rows = [
        (n, f"{v['median_refresh_ms']:.0f}", f"{v['ratio_vs_1']:.2f}x", f"{v['median_push_to_fresh_ms']:.0f}")
        for n, v in result["median"].items()
    ]
    return table(
        ("flash queries", "refresh ms (data_updated -> last evaluated_at)", "vs 1", "push -> all fresh ms"),
        rows,
    )
