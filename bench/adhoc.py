"""An ad-hoc question after new data arrived, at one window (W = ``--adhoc-window``, 64):
our ``/generate`` against llama-server answering it over the new window.

Ours asks right after each fresh-answer step: the new records are already in
the context, so only the question is evaluated. The peer (a: ``cache_prompt``;
b: also ``--cache-reuse 64``) gets the system prompt, the window and the
question, after new records, as a client without our server would ask. It
rides on the fresh-answer run (``bench/fresh.py``), which asks it at that W.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.clients import Api
from bench.peer import PromptText, completion
from bench.report import table
from bench.workload import BATCH, OHLCV_QUESTIONS, Record

ADHOC_QUESTION = OHLCV_QUESTIONS[1]  # "What is the last close?"
ADHOC_TOKENS = 8


def peer_answers(
    client: httpx.Client, url: str, text: PromptText, records: list[Record], window: int, steps: int
) -> list[dict[str, Any]]:
    """``steps`` more steps of B new records after the fresh-answer steps, the question each time."""
    answers = []
    for step in range(steps, 2 * steps):
        end = window + (step + 1) * BATCH
        prompt = text.full(records[end - window : end], ADHOC_QUESTION)
        answers.append(completion(client, url, prompt, ADHOC_TOKENS))
    return answers


async def ours_answer(api: Api, sid: str) -> dict[str, Any]:
    """``POST /generate`` with the question, timed by the client."""
    t1 = time.monotonic()
    gen = await api.post(
        f"/v1/sessions/{sid}/generate",
        {"prompt": ADHOC_QUESTION, "max_tokens": ADHOC_TOKENS, "stop": ["\n"]},
    )
    return {
        "adhoc_ms": (time.monotonic() - t1) * 1e3,
        "adhoc_text": gen["text"],
        "adhoc_from_cache": gen["from_cache"],
    }


def report(fresh: dict[str, Any]) -> str | None:
    """The ad-hoc figures of a fresh-answer result; None when it asked no ad-hoc question."""
    rows = []
    for key, ours in fresh["ours"]["per_window"].items():
        if "adhoc_median_s" not in ours:
            continue
        s = ours["adhoc_median_s"]
        a = fresh["peer_a"]["per_window"][key]["adhoc_median_s"]
        b = fresh["peer_b"]["per_window"][key]["adhoc_median_s"]
        rows.append((key, f"{s:.3f}", f"{a:.2f}", f"{b:.2f}", f"{a / s:.1f}x", f"{b / s:.1f}x"))
    if not rows:
        return None
    return table(
        ("W", "ours /generate s", "peer (a) s", "peer (b) s", "peer (a) / ours", "peer (b) / ours"), rows
    )
