"""The continuous-inference engine (`streaminfer._core`) against the real default model."""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

import psutil
import pytest
from engine_helpers import QUESTION, EventCollector, new_id, ohlcv_records, wait_idle
from polling import wait_for

from streaminfer import _core


def test_prefix_decoded_once_and_ingest_costs_only_new_tokens(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=512)
    prefix = s.state().prefix_end
    records = ohlcv_records(3000, seed=1)
    for start in range(0, len(records), 500):
        s.push(records[start : start + 500])
        wait_idle(s, expected_enqueued=start + 500)
    st = s.state()
    assert st.counters.prefix_evals == 1
    assert st.prefix_end == prefix
    # No flash queries, no generate: every decoded token is the prefix or a record's own token.
    assert st.counters.tokens_decoded == prefix + st.counters.total_data_tokens
    assert st.counters.items_processed + st.counters.skipped == 3000
    assert st.counters.evicted > 0
    engine.destroy_session(s.session_id)


def test_window_bounded_and_positions_contiguous_after_many_evictions(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=1024, window_size=6)
    assert s.window_size == 6
    records = ohlcv_records(60, seed=2)
    for i in range(0, 60, 3):
        s.push(records[i : i + 3])
        st = wait_idle(s, expected_enqueued=i + 3)
        assert st.data_count <= 6
        assert st.pos_min == 0
        assert st.pos_max == st.pos_next - 1
        assert st.pos_next == st.prefix_end + st.data_tokens
        assert st.pos_next == st.pos_next
    st = s.state()
    assert st.counters.evicted >= 60 - 6 - st.counters.skipped
    # The live text is the prefix plus exactly the last records, in order.
    lines = s.context_text().splitlines()
    expected = [_core.format_record("ohlcv", r).rstrip("\n") for r in records[-st.data_count :]]
    assert lines[-len(expected) :] == expected
    engine.destroy_session(s.session_id)


def test_data_version_bumps_once_per_batch(engine: _core.Engine, events: EventCollector) -> None:
    s = engine.create_session(new_id(), "iot", context_size=512)
    for i in range(3):
        s.push([{"sid": "t1", "val": 20.0 + i, "lo": 10.0, "hi": 30.0}])
        wait_idle(s, expected_enqueued=i + 1)
    st = s.state()
    assert st.data_version == st.counters.batches_processed == 3
    events.wait_for(lambda: len(events.of(s.session_id, "data_updated")) == 3)
    versions = [e["data_version"] for e in events.of(s.session_id, "data_updated")]
    assert versions == [1, 2, 3]
    engine.destroy_session(s.session_id)


def test_exact_accounting_with_a_full_ring(model_path: Path) -> None:
    eng = _core.Engine(str(model_path), n_ctx=512, n_threads=2, queue_capacity=64)
    try:
        s = eng.create_session(new_id(), "ohlcv")
        r = s.push(ohlcv_records(200, seed=3))
        assert r.queue_capacity == 64
        assert r.pushed + r.dropped == 200
        assert r.dropped > 0  # a full ring drops, it never blocks
        # Mid-flight, every accepted record is somewhere: queued (ring, tokenizer,
        # pending or the batch in decode), decoded, or skipped.
        for _ in range(50):
            st = s.state()
            assert 0 <= st.ring_size <= st.queue_size <= r.pushed
            assert st.counters.items_processed + st.counters.skipped <= st.counters.total_enqueued == r.pushed
            time.sleep(0.01)
        st = wait_idle(s, expected_enqueued=r.pushed)
        assert st.counters.total_enqueued == st.counters.items_processed + st.counters.skipped
        assert st.counters.total_dropped == r.dropped
        assert st.counters.skipped > 0  # the backlog exceeded the window: old records were not decoded
        assert st.counters.items_processed <= st.counters.total_enqueued
    finally:
        eng.close()


def test_generate_is_not_starved_by_a_stream_flood(engine: _core.Engine, events: EventCollector) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=2048)
    s.push(ohlcv_records(s.window_size, seed=4))  # a backlog of several batches
    rid = s.generate("What is the last close?", max_tokens=4)
    events.wait_for(
        lambda: any(e.get("request_id") == rid and e["type"] == "generate_done" for e in events.events)
    )
    done_at = next(
        i for i, e in enumerate(events.events) if e.get("request_id") == rid and e["type"] == "generate_done"
    )
    batches_before = [
        e for e in events.events[:done_at] if e["session_id"] == s.session_id and e["type"] == "data_updated"
    ]
    # It ran after at most the batch in progress, long before the backlog was through.
    assert len(batches_before) <= 1
    st = wait_idle(s)
    assert st.counters.batches_processed >= 3
    engine.destroy_session(s.session_id)


def test_flash_answers_after_each_batch_and_cache_hits(engine: _core.Engine, events: EventCollector) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=1024, flash=[(QUESTION, 4)])
    assert s.flash_count() == 1
    second = s.register_flash("What is the last close?", 6)
    assert second.id == 2 and s.flash_count() == 2
    records = ohlcv_records(9, seed=5)
    for batch in range(3):
        s.push(records[batch * 3 : batch * 3 + 3])
        wait_idle(s, expected_enqueued=batch * 3 + 3)
        version = s.data_version()
        wait_for(
            lambda v=version: all(q.data_version == v for q in s.list_flash()),
            120,
            "flash answers",
            interval=0.02,
        )
        for q in s.list_flash():
            assert q.has_answer
            assert 0.0 <= q.confidence <= 1.0
            assert math.isfinite(q.logit_gap) and q.logit_gap >= 0.0
            assert q.evaluated_at > 0
    assert s.state().counters.flash_runs >= 3
    # Cache hit: the same question, other whitespace, fresh at the current version.
    hit = s.cached_answer("  Is the trend   bullish or\tbearish?  ")
    assert hit is not None
    assert hit.id == 1 and hit.data_version == s.data_version()
    assert hit.value == next(q.value for q in s.list_flash() if q.id == 1)
    assert s.cached_answer("Something else?") is None
    events.wait_for(lambda: len(events.of(s.session_id, "flash_ready")) >= 2)
    ready = events.of(s.session_id, "flash_ready")
    assert all(0.0 <= e["confidence"] <= 1.0 for e in ready)
    # Deleting stops answering it.
    assert s.delete_flash(2) is True
    assert s.delete_flash(2) is False
    assert [q.id for q in s.list_flash()] == [1]
    engine.destroy_session(s.session_id)


def test_flash_limits(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "event", context_size=1024)
    with pytest.raises(ValueError):
        s.register_flash("   ", 4)
    for i in range(_core.MAX_FLASH_QUERIES):
        s.register_flash(f"How many events of kind {i}?", 1)
    with pytest.raises(_core.LimitError):
        s.register_flash("One too many?", 1)
    with pytest.raises(_core.DuplicateError):
        s.register_flash("How many  events of kind 3?", 1)
    q = s.list_flash()[0]
    assert q.max_tokens == 1 and q.has_answer is False and q.value == "" and q.confidence == 0.0
    engine.destroy_session(s.session_id)
    with pytest.raises(_core.SessionClosedError):
        s.push([{"src": "a", "sev": 1, "cat": "x", "cnt": 1}])


def test_generate_streams_tokens_without_disturbing_the_live_context(
    engine: _core.Engine, events: EventCollector
) -> None:
    s = engine.create_session(new_id(), "vitals", context_size=1024)
    s.push(
        [{"hr": 72.0, "bp_s": 120.0, "bp_d": 80.0, "spo2": 98.0, "temp": 36.8, "timestamp": 1_700_000_000}]
    )
    before = wait_idle(s, expected_enqueued=1)
    text_before = s.context_text()
    rid = s.generate("What is the heart rate?", max_tokens=12)
    events.wait_for(
        lambda: any(e.get("request_id") == rid and e["type"] == "generate_done" for e in events.events)
    )
    tokens = [e for e in events.events if e.get("request_id") == rid and e["type"] == "token"]
    done = next(e for e in events.events if e.get("request_id") == rid and e["type"] == "generate_done")
    assert 1 <= done["n_tokens"] <= 12
    assert "".join(t["token"] for t in tokens) == done["text"]
    assert [t["pos"] for t in tokens] == sorted(t["pos"] for t in tokens)
    assert 0.0 <= done["confidence"] <= 1.0
    after = s.state()
    assert s.context_text() == text_before
    assert (after.pos_next, after.data_version) == (before.pos_next, before.data_version)
    with pytest.raises(_core.ContextFullError) as err:
        s.generate("word " * 2000)
    assert err.value.args[1] > err.value.args[2]
    engine.destroy_session(s.session_id)


def test_generate_can_be_cancelled_and_stops_when_its_session_goes(
    engine: _core.Engine, events: EventCollector
) -> None:
    s = engine.create_session(new_id(), "iot", context_size=1024)
    rid = s.generate("Write a very long story about sensors.", max_tokens=200)
    events.wait_for(lambda: any(e.get("request_id") == rid and e["type"] == "token" for e in events.events))
    assert s.cancel(rid) is True
    events.wait_for(
        lambda: any(e.get("request_id") == rid and e["type"] == "generate_error" for e in events.events)
    )
    n_tokens = len([e for e in events.events if e.get("request_id") == rid and e["type"] == "token"])
    assert n_tokens < 200
    assert not any(e.get("request_id") == rid and e["type"] == "generate_done" for e in events.events)
    assert s.cancel(rid) is False  # finished: nothing to cancel

    rid = s.generate("Write another very long story.", max_tokens=200)
    events.wait_for(lambda: any(e.get("request_id") == rid and e["type"] == "token" for e in events.events))
    assert engine.destroy_session(s.session_id) is True  # returns once the context is freed
    events.wait_for(
        lambda: any(e.get("request_id") == rid and e["type"] == "generate_error" for e in events.events)
    )
    assert len([e for e in events.events if e.get("request_id") == rid and e["type"] == "token"]) < 200


def test_two_sessions_are_isolated(engine: _core.Engine) -> None:
    a = engine.create_session(new_id(), "spatial", context_size=512)
    b = engine.create_session(new_id(), "spatial", context_size=512, prompt="Track the drone.")
    a.push([{"x": 1.0, "y": 2.0, "z": 3.0, "spd": 4.0, "hdg": 90.0}])
    wait_idle(a, expected_enqueued=1)
    sb = b.state()
    assert sb.data_count == 0 and sb.data_version == 0 and sb.counters.total_enqueued == 0
    assert "Track the drone." in b.context_text() and "Track the drone." not in a.context_text()
    assert a.stats()["count"] == 1 and b.stats()["count"] == 0
    assert sorted({a.session_id, b.session_id} & set(engine.session_ids())) == sorted(
        [a.session_id, b.session_id]
    )
    assert engine.destroy_session(a.session_id) is True
    assert engine.destroy_session(a.session_id) is False
    assert engine.get_session(a.session_id) is None
    assert b.state().running is True
    engine.destroy_session(b.session_id)


def test_events_reach_asyncio_without_polling(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "iot", context_size=512)
    engine.poll_events()

    async def wait_for_update() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[dict[str, object]] = loop.create_future()

        def on_readable() -> None:
            for ev in engine.poll_events():
                if ev["type"] == "data_updated" and ev["session_id"] == s.session_id and not got.done():
                    got.set_result(ev)

        loop.add_reader(engine.event_fd, on_readable)
        try:
            s.push([{"sid": "t9", "val": 1.5, "lo": 0.0, "hi": 2.0}])
            return await asyncio.wait_for(got, 60)
        finally:
            loop.remove_reader(engine.event_fd)

    ev = asyncio.run(wait_for_update())
    assert ev["data_version"] == 1 and ev["data_count"] == 1
    engine.destroy_session(s.session_id)


def test_invalid_records_are_rejected_whole(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "spatial", context_size=512)
    good = {"x": 1.0, "y": 2.0, "z": 3.0, "spd": 4.0, "hdg": 90.0}
    cases = [
        ({**good, "hdg": 361.0}, "hdg"),
        ({**good, "x": float("nan")}, "x"),
        ({**good, "spd": True}, "spd"),
        ({k: v for k, v in good.items() if k != "z"}, "z"),
        ({**good, "timestamp": 1.5}, "timestamp"),
    ]
    for bad, field in cases:
        with pytest.raises(_core.RecordError) as err:
            s.push([good, good, bad])
        message, index, name = err.value.args
        assert (index, name) == (2, field), message
        assert f"data[2].{field}" in message
    with pytest.raises(_core.RecordError):
        s.push([good, "not an object"])  # type: ignore[list-item]
    assert s.state().counters.total_enqueued == 0  # nothing enqueued on error
    engine.destroy_session(s.session_id)


def test_append_and_mark_prefix(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "event", context_size=512)
    prefix = s.state().prefix_end
    r = s.append_text("Note: the firewall was upgraded at noon.\n")
    assert r.n_tokens_added > 0 and r.pos_next == prefix + r.n_tokens_added
    assert s.state().pos_max == r.pos_next - 1
    frozen = s.mark_prefix()
    assert frozen.prefix_end == r.pos_next
    st = s.state()
    assert st.prefix_end == frozen.prefix_end and st.data_tokens == 0
    assert s.state().counters.prefix_evals == 1
    with pytest.raises(_core.ContextFullError):
        s.append_text("word " * 1000)
    engine.destroy_session(s.session_id)


def test_window_statistics(engine: _core.Engine) -> None:
    s = engine.create_session(new_id(), "vitals", context_size=512)
    rows = [
        (72, 120, 80, 98, 36.8),
        (110, 130, 85, 88, 38.2),
        (115, 128, 84, 89, 38.4),
        (55, 110, 70, 97, 37.0),
    ]
    s.push([{"hr": hr, "bp_s": bs, "bp_d": bd, "spo2": o2, "temp": t} for hr, bs, bd, o2, t in rows])
    wait_idle(s, expected_enqueued=4)
    st = s.stats()
    assert st["type"] == "vitals" and st["count"] == 4
    assert st["current"]["bp"] == "110/70" and st["current"]["hr"] == 55.0
    assert st["alerts"] == {
        "tachycardia_episodes": 1,
        "bradycardia_episodes": 1,
        "hypoxia_episodes": 1,
        "fever_episodes": 1,
    }
    assert st["min_spo2"] == 88.0 and st["max_temp"] == 38.4
    assert st["avg_heart_rate"] == pytest.approx(88.0)
    engine.destroy_session(s.session_id)


def test_memory_is_flat_over_a_long_run(model_path: Path) -> None:
    eng = _core.Engine(str(model_path), n_ctx=512, n_threads=2)
    proc = psutil.Process()
    try:
        s = eng.create_session(new_id(), "ohlcv")
        chunk = ohlcv_records(4000, seed=7)
        sent = 0
        rss_after_1k = 0
        while sent < 100_000:
            n = 1000 if sent == 0 else min(4000, 100_000 - sent)
            s.push(chunk[:n])
            sent += n
            wait_idle(s, expected_enqueued=sent, timeout=300)
            eng.poll_events()
            if sent == 1000:
                rss_after_1k = proc.memory_info().rss
        rss_after_100k = proc.memory_info().rss
        growth_mb = (rss_after_100k - rss_after_1k) / 2**20
        mib_1k, mib_100k = rss_after_1k / 2**20, rss_after_100k / 2**20
        print(f"RSS after 1k records {mib_1k:.1f} MiB, after 100k {mib_100k:.1f} MiB")
        assert growth_mb < 8.0
    finally:
        eng.close()


def test_model_errors(tmp_path: Path, model_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _core.Model(str(tmp_path / "missing.gguf"))
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(ValueError, match="GGUF"):
        _core.Model(str(not_gguf))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(model_path.read_bytes()[:4096])
    with pytest.raises(_core.ModelLoadError):
        _core.Model(str(truncated))
    m = _core.Model(str(model_path), n_threads=1)
    assert m.architecture == "llama" and m.n_vocab == 49152 and m.has_chat_template is True
    tokens = m.tokenize("185.5,186.2,184.9,185.7,12345\n")
    assert m.detokenize(tokens) == "185.5,186.2,184.9,185.7,12345\n"
    with pytest.raises((ValueError, IndexError)):
        m.detokenize([10**7])


def _thread_nice() -> dict[int, int]:
    """Nice value of each of this process's threads (field 19 of /proc/self/task/*/stat)."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # a thread that just ended
        out[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[16])
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_worker_threads_yield_to_the_event_loop(model_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    before = set(_thread_nice())
    eng = _core.Engine(str(model_path), n_ctx=512, n_threads=2, worker_nice=7)
    try:

        def workers() -> dict[int, int]:
            return {tid: nice for tid, nice in _thread_nice().items() if tid not in before}

        # Each thread lowers its own priority as it starts: give them the moment.
        expected = min(19, base + 7)
        wait_for(
            lambda: set(workers().values()) == {expected},
            10.0,
            f"new threads at nice {expected}",
            interval=0.02,
        )
        assert len(workers()) >= 2  # the decode thread and the tokenization worker
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the caller's thread is untouched
    finally:
        eng.close()
    for bad in (-1, 20):
        with pytest.raises(ValueError, match="worker_nice"):
            _core.Engine(str(model_path), n_ctx=512, worker_nice=bad)
