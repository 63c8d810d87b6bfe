"""The core's bounds as `_core` users meet them: the per-session backlog, stop strings,
room for flash answers and a frozen prefix, numeric ranges and record strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import EventCollector, new_id, ohlcv_records, wait_idle

from streaminfer import _core

SMALL_QUEUE = 100  # not a power of two: the bound is the number asked for


@pytest.fixture(scope="module")
def small_queue_engine(model_path: Path) -> Iterator[_core.Engine]:
    eng = _core.Engine(str(model_path), n_ctx=2048, n_threads=2, queue_capacity=SMALL_QUEUE)
    yield eng
    eng.close()


def test_backlog_never_exceeds_queue_capacity_while_decode_is_busy(
    small_queue_engine: _core.Engine,
) -> None:
    eng = small_queue_engine
    s = eng.create_session(new_id(), "ohlcv", context_size=2048)
    assert s.state().queue_capacity == SMALL_QUEUE
    # A long generation holds the decode thread while the pushes pile up.
    s.generate("Count from one to one thousand.", max_tokens=400)
    records = ohlcv_records(4000, seed=11)
    pushed = 0
    dropped = 0
    for start in range(0, len(records), 40):
        r = s.push(records[start : start + 40])
        pushed += r.pushed
        dropped += r.dropped
        assert r.queue_capacity == SMALL_QUEUE
        assert r.queue_size <= SMALL_QUEUE
        assert s.state().queue_size <= SMALL_QUEUE
    assert dropped > 0
    st = wait_idle(s, expected_enqueued=pushed)
    assert st.counters.total_dropped == dropped
    assert st.counters.total_enqueued + st.counters.total_dropped == len(records)
    eng.destroy_session(s.session_id)


def test_stop_strings_are_bounded(engine: _core.Engine) -> None:
    assert _core.MAX_STOP_STRINGS == 4
    assert _core.MAX_STOP_LENGTH == 64
    s = engine.create_session(new_id(), "ohlcv", context_size=512)
    bad: list[list[str]] = [
        ["a", "b", "c", "d", "e"],
        ["x" * (_core.MAX_STOP_LENGTH + 1)],
        [""],
    ]
    for stop in bad:
        with pytest.raises(_core.ParamError) as err:
            s.generate("Hello", max_tokens=4, stop=stop)
        assert err.value.args[1] == "stop"
    s.generate("Hello", max_tokens=2, stop=["x" * _core.MAX_STOP_LENGTH, "a", "b", "c"])
    engine.destroy_session(s.session_id)


def test_flash_registered_on_a_full_window_gets_its_room(
    engine: _core.Engine, events: EventCollector
) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=512)
    s.push(ohlcv_records(20, seed=3))
    before = wait_idle(s, expected_enqueued=20)
    assert before.data_count > 0
    q = s.register_flash("What is the last close?", max_tokens=256)
    events.wait_for(lambda: bool(events.of(s.session_id, "flash_ready")), what="the flash answer")
    assert events.of(s.session_id, "error") == []
    st = s.state()
    assert not st.error
    assert st.pos_next + q.n_tokens + q.max_tokens <= st.context_size
    engine.destroy_session(s.session_id)


def test_flash_refused_when_a_frozen_prefix_leaves_no_room(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=512)
    s.append_text("Notes: " + "the market opened quietly and traded sideways; " * 6 + "\n")
    s.mark_prefix()
    free = s.context_size - s.state().prefix_end
    first = s.register_flash("What is the last close?", max_tokens=_core.MAX_FLASH_TOKENS)
    second = "Is the price going up?"
    n_question = first.n_tokens  # about the same length
    # Fits what followed the original prefix, not what follows the frozen one.
    max_tokens = free - first.n_tokens - first.max_tokens - n_question - 8
    assert max_tokens >= 1
    with pytest.raises(_core.ContextFullError, match=r"\d+ tokens"):
        s.register_flash(second, max_tokens=max_tokens)
    engine.destroy_session(s.session_id)


def test_mark_prefix_refused_when_it_would_leave_no_room_for_a_window(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=512)
    filler = "the market opened quietly and traded sideways.\n"
    refused: _core.ContextFullError | None = None
    for _ in range(60):
        s.append_text(filler)
        try:
            s.mark_prefix()
        except _core.ContextFullError as e:
            refused = e
            break
    assert refused is not None
    assert f"window of {_core.MIN_WINDOW_RECORDS} records" in str(refused)
    before = s.state()
    s.push(ohlcv_records(5, seed=4))
    st = wait_idle(s, expected_enqueued=5)
    assert st.counters.items_processed > 0
    assert st.data_version > before.data_version
    engine.destroy_session(s.session_id)


TWO_53 = 2**53


@pytest.mark.parametrize("cnt", [TWO_53, TWO_53 + 1, 2**63 - 1, 2**64, -1])
def test_event_count_out_of_range_is_refused(cnt: int) -> None:
    with pytest.raises(_core.RecordError) as err:
        _core.format_record("event", {"src": "fw-01", "sev": 1, "cat": "auth", "cnt": cnt})
    assert err.value.args[2] == "cnt"


def test_largest_count_is_formatted_exactly() -> None:
    fields = {f.name: f for f in _core.record_types()[3].fields}
    top = fields["cnt"].maximum
    assert top is not None and top < TWO_53
    line = _core.format_record("event", {"src": "fw-01", "sev": 1, "cat": "auth", "cnt": int(top)})
    assert line.rstrip("\n").endswith("," + str(int(top)))


@pytest.mark.parametrize("value", [1e300, -1e300, 1.7976931348623157e308])
def test_float_out_of_range_is_refused(value: float) -> None:
    rec: dict[str, Any] = {"o": 1.0, "h": 2.0, "l": 0.5, "c": value, "v": 10.0}
    with pytest.raises(_core.RecordError) as err:
        _core.format_record("ohlcv", rec)
    assert err.value.args[2] == "c"


def test_window_sum_of_largest_counts_is_exact(engine: _core.Engine) -> None:
    top = int(next(f for f in _core.record_types()[3].fields if f.name == "cnt").maximum or 0)
    s = engine.create_session(new_id(), "event", context_size=2048)
    n = min(s.window_size, 50)
    s.push([{"src": "fw-01", "sev": 1, "cat": "auth", "cnt": top} for _ in range(n)])
    wait_idle(s, expected_enqueued=n)
    stats = s.stats()
    assert stats["total_event_count"] == top * stats["count"]
    engine.destroy_session(s.session_id)


BAD_TEXT = [
    "a\x7fb",  # DEL
    "a\u0085b",  # NEL (C1)
    "a\u2028b",
    "a\u2029b",
    "a\u202eb",  # right-to-left override
    "<|im_start|>",
    "a>b",
    "a|b",
    "a,b",
    'a"b',
    "a'b",
    "a\tb",
    "caf\u00e9",
]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_record_strings_outside_the_identifier_set_are_refused(text: str) -> None:
    with pytest.raises(_core.RecordError) as err:
        _core.format_record("iot", {"sid": text, "val": 1.0, "lo": 0.0, "hi": 2.0})
    assert err.value.args[2] == "sid"
    with pytest.raises(_core.RecordError) as err:
        _core.format_record("event", {"src": "fw-01", "sev": 1, "cat": text, "cnt": 1})
    assert err.value.args[2] == "cat"


@pytest.mark.parametrize("text", ["BTC-USD", "temp_01", "rack 4/slot:2", "user@host", "a.b#c+d=e", "Z9"])
def test_record_strings_in_the_identifier_set_pass(text: str) -> None:
    line = _core.format_record("iot", {"sid": text, "val": 1.0, "lo": 0.0, "hi": 2.0})
    assert line.startswith(text + ",")
