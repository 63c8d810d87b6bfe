"""Memory: the process's resident set with the engine loaded, then with 1 and with 8
sessions each holding a full window (context 2048 per session).

Memory must be bounded by configuration: each session owns a fixed KV cache,
so RSS grows by a fixed amount per session and not with how long it runs.
Measured first in its run, in a process that has loaded no model yet.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psutil

from bench import engine_state
from bench.context import Context
from bench.report import table
from bench.workload import ohlcv_series
from streaminfer import _core


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss / 2**20)


def memory(model: str, threads: int, ctx: int = 2048, counts: tuple[int, ...] = (1, 8)) -> dict[str, Any]:
    before = rss_mb()
    out: dict[str, Any] = {"ctx": ctx, "rss_mb_before_engine": before, "sessions": {}}
    with contextlib.closing(_core.Engine(model, n_ctx=ctx, n_threads=threads)) as engine:
        out["rss_mb_engine_loaded"] = rss_mb()
        sessions: list[_core.Session] = []
        for n in counts:
            while len(sessions) < n:
                s = engine.create_session(engine_state.new_session_id(), "ohlcv", context_size=ctx)
                engine_state.fill(s, ohlcv_series(s.window_size, seed=len(sessions)))
                sessions.append(s)
            st = engine_state.snapshot(sessions[-1])
            out["sessions"][str(n)] = {
                "rss_mb": rss_mb(),
                "window_size": st.window_size,
                "data_count": st.data_count,
                "pos_next": st.pos_next,
            }
    n_lo, n_hi = (str(c) for c in (counts[0], counts[-1]))
    per = (out["sessions"][n_hi]["rss_mb"] - out["sessions"][n_lo]["rss_mb"]) / (counts[-1] - counts[0])
    out["mb_per_extra_session"] = per
    return out


def run(ctx: Context) -> dict[str, Any]:
    return memory(ctx.model, ctx.threads)


def report(result: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = [
        ("python + _core imported", f"{result['rss_mb_before_engine']:.0f}"),
        ("engine loaded, 0 sessions", f"{result['rss_mb_engine_loaded']:.0f}"),
    ]
    for n, v in result["sessions"].items():
        rows.append(
            (
                f"{n} session(s), each window full ({v['data_count']} records, {v['pos_next']} tokens)",
                f"{v['rss_mb']:.0f}",
            )
        )
    return (
        table(("state (context 2048 per session)", "RSS MiB"), rows)
        + f"\n\nPer extra session: {result['mb_per_extra_session']:.1f} MiB"
    )
