"""The two summaries every measurement reports: the median and a nearest-rank percentile."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values (a section that measured nothing still reports)."""
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def latency_summary(times_ms: Sequence[float]) -> dict[str, float]:
    """``n``, ``p50_ms``, ``p99_ms`` and ``max_ms`` of latencies in milliseconds."""
    return {
        "n": len(times_ms),
        "p50_ms": percentile(times_ms, 50),
        "p99_ms": percentile(times_ms, 99),
        "max_ms": max(times_ms),
    }


def medians(runs: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """The median of each of ``keys`` over ``runs``, leaving out rounds without it (None)."""
    return {k: median([run[k] for run in runs if run.get(k) is not None]) for k in keys}


def ratio(num: float, den: float | None) -> float | None:
    """``num / den``, None without a denominator (a peer figure that was not measured)."""
    return num / den if den else None
