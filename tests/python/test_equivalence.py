"""Incremental KV state vs a context rebuilt from scratch.

After many slides, the live sequence holds entries that were computed while
attending to records that have since been evicted, and whose positions were
shifted (llama_memory_seq_add). A rebuild decodes the same prefix and the
same window text from nothing. The answers should agree; the logits differ
by a measured amount, printed here (and reported in bench/RESULTS.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import ohlcv_records, wait_idle

from streaminfer import _core
from streaminfer.samples import OHLCV_QUESTIONS

# The probes: the first twelve of the example questions (the bounds below were measured over these).
QUESTIONS = OHLCV_QUESTIONS[:12]


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[_core.Engine]:
    eng = _core.Engine(str(model_path), n_ctx=1024, n_threads=2)
    yield eng
    eng.close()


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def max_abs_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_incremental_state_answers_like_a_rebuild(engine: _core.Engine) -> None:
    window = 8
    incremental = engine.create_session(f"sess_{secrets.token_hex(12)}", "ohlcv", window_size=window)
    records = ohlcv_records(48, seed=11)
    for i in range(0, len(records), 4):  # 12 batches: the window slid 10 times
        incremental.push(records[i : i + 4])
        wait_idle(incremental, expected_enqueued=i + 4)
    st = incremental.state()
    assert st.counters.evicted >= 40 and st.data_count == window and st.counters.skipped == 0

    rebuilds = []
    for _ in range(2):
        r = engine.create_session(f"sess_{secrets.token_hex(12)}", "ohlcv", window_size=window)
        r.push(records[-window:])
        wait_idle(r, expected_enqueued=window)
        assert r.state().counters.evicted == 0
        rebuilds.append(r)
    # Same text, same positions: only the history of the cells differs.
    assert rebuilds[0].context_text() == incremental.context_text()
    assert rebuilds[0].state().pos_next == st.pos_next

    agree = 0
    first_token_agree = 0
    largest = 0.0
    control_largest = 0.0
    for q in QUESTIONS:
        inc = incremental.probe(q, 8)
        reb = rebuilds[0].probe(q, 8)
        ctl = rebuilds[1].probe(q, 8)
        agree += inc.text == reb.text
        first_token_agree += argmax(inc.logits) == argmax(reb.logits)
        largest = max(largest, max_abs_diff(inc.logits, reb.logits))
        control_largest = max(control_largest, max_abs_diff(reb.logits, ctl.logits))
        assert reb.text == ctl.text  # rebuilding is deterministic
    n = len(QUESTIONS)
    print(
        f"\nequivalence after {st.counters.evicted} evictions: whole answers agree {agree}/{n}, "
        f"first tokens agree {first_token_agree}/{n}, largest first-step logit difference {largest:.3f} "
        f"(rebuild vs rebuild {control_largest:.3f})"
    )
    assert control_largest == 0.0
    # The shift is an approximation: close, not exact (measured here: logits
    # within ~2.5 of the rebuild's, whole 8-token answers agreeing about half
    # the time as near-ties flip late tokens). These bounds fail when the
    # window is mis-shifted: wrong positions give unrelated distributions.
    assert first_token_agree >= 0.75 * n
    assert agree >= 0.25 * n
    assert largest < 5.0
    for s in [incremental, *rebuilds]:
        engine.destroy_session(s.session_id)
