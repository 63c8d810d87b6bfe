"""Pushing 100k OHLCV rows from numpy into ``streaminfer.Engine``: as columns, and as dicts.

The same rows (five float64 columns and a timestamp) pushed four ways, each into
a fresh session whose queue holds them all, the ways in turn for ``--rounds``
rounds: a 2-D array, a structured array and a pandas DataFrame (when pandas is
installed), whose numbers reach the core through the buffer protocol; and the
list-of-dicts path, timed from the same array (building the dicts, then the push)
and as the push of dicts already built. The model decodes in the background
meanwhile, as it would in use; the figures are medians.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.report import table
from bench.stats import median

FIELDS = ("o", "h", "l", "c", "v")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench columns-push", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="(default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="(default: %(default)s)")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="columns_push.json")
    return p.parse_args(argv)


def candles(n: int, seed: int = 3) -> np.ndarray:
    """``n`` rows: timestamp, then o h l c v (a random walk, two decimals)."""
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.2, n)), 2)
    spread = np.round(rng.uniform(0.05, 0.5, n), 2)
    return np.column_stack(
        [
            1_700_000_000 + 60 * np.arange(n, dtype=np.float64),
            np.round(close - spread / 3, 2),
            close + spread,
            close - spread,
            close,
            np.round(rng.uniform(1e3, 1e5, n)),
        ]
    )


def ways(rows: np.ndarray) -> dict[str, Callable[[], object]]:
    """name -> what makes that way's input from the array (timed with the push)."""
    names = ("timestamp", *FIELDS)
    structured = np.empty(len(rows), dtype=[(n, np.float64) for n in names])
    for i, n in enumerate(names):
        structured[n] = rows[:, i]
    built = to_dicts(rows)
    out: dict[str, Callable[[], object]] = {
        "2-D array": lambda: rows,
        "structured array": lambda: structured,
        "dicts from the array": lambda: to_dicts(rows),
        "dicts already built": lambda: built,
    }
    try:
        import pandas as pd
    except ImportError:
        return out
    frame = pd.DataFrame(rows[:, 1:], columns=list(FIELDS))
    frame["timestamp"] = rows[:, 0].astype(np.int64)
    out["pandas DataFrame"] = lambda: frame
    return out


def to_dicts(rows: np.ndarray) -> list[dict[str, Any]]:
    """What a user without the columnar path writes: one dict per row."""
    return [
        {"timestamp": int(t), "o": o, "h": h, "l": lo, "c": c, "v": v} for t, o, h, lo, c, v in rows.tolist()
    ]


def main(argv: list[str]) -> int:
    from bench.report import machine, machine_line, write_json
    from streaminfer import Engine

    args = parse(argv)
    rows = candles(args.rows)
    by_way: dict[str, list[float]] = {}
    with Engine(args.model, threads=args.threads, queue_capacity=args.rows + 1) as engine:
        candidates = ways(rows)
        for r in range(args.rounds):
            for name, prepare in candidates.items():
                with engine.session("ohlcv") as session:
                    gc.collect()
                    started = time.perf_counter()
                    result = session.push(prepare())
                    elapsed = time.perf_counter() - started
                if result.pushed != args.rows:
                    raise SystemExit(f"{name}: {result.pushed} of {args.rows} rows accepted")
                by_way.setdefault(name, []).append(elapsed)
            times = ", ".join(f"{n} {t[-1]:.3f} s" for n, t in by_way.items())
            print(f"round {r + 1}/{args.rounds}: {times}", flush=True)
    info = machine()
    command = (
        f"python -m bench columns-push --rows {args.rows} --rounds {args.rounds} --threads {args.threads}"
    )
    baseline = median(by_way["dicts from the array"])
    summary = {
        name: {"seconds": median(t), "rows_per_s": args.rows / median(t), "vs_dicts": baseline / median(t)}
        for name, t in by_way.items()
    }
    write_json(args.out, {"machine": info, "command": command, "rows": args.rows, "ways": summary})
    report = table(
        (f"push of {args.rows:,} OHLCV rows", "median s", "rows/s", "speed-up over dicts from the array"),
        [(n, s["seconds"], s["rows_per_s"], f"{s['vs_dicts']:.1f}x") for n, s in summary.items()],
    )
    print(f"\n{machine_line(info)}\n\n`{command}`\n\n{report}")
    return 0
