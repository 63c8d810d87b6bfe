"""Equivalence: the incremental KV state after many slides of the window against a
context rebuilt from scratch from the same prefix and the records now in the window.

Shifting positions after an eviction is an approximation (kept entries were
computed attending to evicted ones), so it is measured: for each question,
whether the greedy answers (8 and 4 tokens) and the first token agree, and the
largest first-step logit difference. Two controls: the same records pushed
in batches without any eviction (batching alone), and a second rebuild.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from bench import engine_state
from bench.context import Context
from bench.report import table
from bench.stats import median
from bench.workload import OHLCV_QUESTIONS, ohlcv_series
from streaminfer import _core

# The pairs compared: (label, left session, right session).
PAIRS = (
    ("incremental vs rebuild", "incremental", "rebuild"),
    ("chunked vs rebuild (batching only, no eviction)", "chunked", "rebuild"),
    ("rebuild vs rebuild (control)", "rebuild2", "rebuild"),
)
# (window, records pushed): many slides of a small window, fewer of a larger one.
RUNS = ((16, 160), (64, 224))


def compare(answers: dict[str, list[dict[str, Any]]], left: str, right: str) -> dict[str, Any]:
    """Agreement of greedy answers (8 and 4 tokens) and the first step's logits of two sessions."""
    n = len(answers[left])
    diffs, top1, agree8, agree4 = [], 0, 0, 0
    for a, b in zip(answers[left], answers[right], strict=True):
        la, lb = np.asarray(a["logits"], dtype=np.float64), np.asarray(b["logits"], dtype=np.float64)
        diffs.append(float(np.max(np.abs(la - lb))))
        top1 += int(np.argmax(la) == np.argmax(lb))
        agree8 += a["text"] == b["text"]
        agree4 += a["text4"] == b["text4"]
    return {
        "agreement_8": agree8 / n,
        "agreement_4": agree4 / n,
        "first_token_agreement": top1 / n,
        "max_abs_logit_diff": max(diffs),
        "median_max_abs_logit_diff": median(diffs),
    }


def equivalence(
    engine: _core.Engine, window: int, n_records: int, batch: int = 4, n_questions: int = 12
) -> dict[str, Any]:
    """After ``n_records`` pushed ``batch`` at a time into a window of ``window`` records
    (many slides), the incremental session against sessions rebuilt from the same prefix
    and the records now in its window."""
    questions = OHLCV_QUESTIONS[:n_questions]
    records = ohlcv_series(n_records, seed=int(time.time()) + window)
    kept = records[-window:]
    sessions = {
        name: engine.create_session(engine_state.new_session_id(), "ohlcv", window_size=window)
        for name in ("incremental", "rebuild", "rebuild2", "chunked")
    }
    st = engine_state.fill(sessions["incremental"], records, per_push=batch)
    assert st.skipped == 0 and st.data_count == window, st
    engine_state.fill(sessions["rebuild"], kept)
    engine_state.fill(sessions["rebuild2"], kept)
    engine_state.fill(sessions["chunked"], kept, per_push=batch)
    ref = sessions["rebuild"]
    same_text = all(s.context_text() == ref.context_text() for s in sessions.values())
    ref_pos = engine_state.snapshot(ref).pos_next
    same_pos = all(engine_state.snapshot(s).pos_next == ref_pos for s in sessions.values())
    answers: dict[str, list[dict[str, Any]]] = {name: [] for name in sessions}
    for q in questions:
        for name, s in sessions.items():
            full = engine_state.probe(s, q, 8)
            short = engine_state.probe(s, q, 4)
            answers[name].append({"text": full.text, "text4": short.text, "logits": full.logits})
    for s in sessions.values():
        engine.destroy_session(s.session_id)
    return {
        "window": window,
        "records_pushed": n_records,
        "batch": batch,
        "evicted": st.evicted,
        "same_context_text": same_text,
        "same_pos_next": same_pos,
        "pairs": {label: compare(answers, left, right) for label, left, right in PAIRS},
        "answers": {
            name: [
                {"question": q, "text": a["text"], "text4": a["text4"]}
                for q, a in zip(questions, lst, strict=True)
            ]
            for name, lst in answers.items()
        },
    }


def run(ctx: Context) -> list[dict[str, Any]]:
    with contextlib.closing(_core.Engine(ctx.model, n_ctx=4096, n_threads=ctx.threads)) as engine:
        return [equivalence(engine, window, n_records) for window, n_records in RUNS]


# The report's columns of a compared pair: (header, key in ``compare``'s result, format).
PAIR_COLUMNS = (
    ("greedy agreement, 8 tokens", "agreement_8", "{:.0%}"),
    ("4 tokens", "agreement_4", "{:.0%}"),
    ("first token", "first_token_agreement", "{:.0%}"),
    ("largest abs logit diff", "max_abs_logit_diff", "{:.4f}"),
    ("median over questions", "median_max_abs_logit_diff", "{:.4f}"),
)


def report(results: list[dict[str, Any]]) -> str:
    header = ("W", "records evicted", "sessions compared", *(h for h, _, _ in PAIR_COLUMNS))
    rows = [
        (r["window"], r["evicted"], label, *(fmt.format(c[key]) for _, key, fmt in PAIR_COLUMNS))
        for r in results
        for label, c in r["pairs"].items()
    ]
    same = all(r["same_context_text"] and r["same_pos_next"] for r in results)
    n_q = len(next(iter(results[0]["answers"].values())))
    return (
        table(header, rows)
        + f"\n\n{n_q} questions per W; identical context text and positions in every session: {same}."
    )
