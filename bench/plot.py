"""The figure of the fresh-answer measurement: latency against the window W for the
three contenders, on a log scale (matplotlib, the ``bench`` extra)."""

from __future__ import annotations

import sys
from typing import Any


def fresh_answer_latency(fresh: dict[str, Any], windows: tuple[int, ...], path: str) -> None:
    """Draw ``fresh`` (``bench/fresh.py``'s result) into the PNG ``path``; without
    matplotlib, say so and draw nothing (the figures are in the JSON file)."""
    try:
        import matplotlib
    except ImportError:
        print(
            f"bench: no figure {path}: needs matplotlib (pip install 'streaminfer[bench]')", file=sys.stderr
        )
        return

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
            [fresh[key]["per_window"][str(w)]["median_s"] for w in windows],
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
