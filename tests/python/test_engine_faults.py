"""The engine (`_core`) under contention and faults: fair turns on the decode thread,
close() in the middle of a generation, two creates racing for one id."""

from __future__ import annotations

import threading
from pathlib import Path

from engine_helpers import EventCollector, new_id, ohlcv_records

from streaminfer import _core

ENDS = ("generate_done", "generate_error")


def test_generates_of_one_session_do_not_hold_back_another_sessions_ingest(
    engine: _core.Engine, events: EventCollector
) -> None:
    busy = engine.create_session(new_id(), "ohlcv", context_size=1024)
    other = engine.create_session(new_id(), "ohlcv", context_size=512)
    ids = [busy.generate("Count from one to one hundred.", max_tokens=48) for _ in range(6)]
    other.push(ohlcv_records(3, seed=5))
    events.wait_for(lambda: bool(events.of(other.session_id, "data_updated")), what="the other's batch")
    first_update = next(
        i
        for i, e in enumerate(events.events)
        if e["session_id"] == other.session_id and e["type"] == "data_updated"
    )
    ended_before = [
        e for e in events.events[:first_update] if e["type"] in ENDS and e.get("request_id") in ids
    ]
    # The generate already running, and at most one more taken before the batch's turn.
    assert len(ended_before) <= 2
    events.wait_for(
        lambda: all(any(e.get("request_id") == i and e["type"] in ENDS for e in events.events) for i in ids),
        what="every generate to end",
    )
    engine.destroy_session(busy.session_id)
    engine.destroy_session(other.session_id)


def test_close_stops_a_generation_at_its_next_step(model_path: Path) -> None:
    eng = _core.Engine(str(model_path), n_ctx=512, n_threads=2)
    collector = EventCollector(eng)
    s = eng.create_session(new_id(), "ohlcv")
    running = s.generate("Count from one to one thousand.", max_tokens=400)
    queued = s.generate("Count from one to one thousand.", max_tokens=400)
    collector.wait_for(
        lambda: any(e.get("request_id") == running and e["type"] == "token" for e in collector.events),
        what="the first token",
    )
    eng.close()
    collector.pump(0.0)
    ends = {e["request_id"]: e["type"] for e in collector.events if e["type"] in ENDS}
    assert ends == {running: "generate_error", queued: "generate_error"}
    try:
        s.generate("Hello", max_tokens=2)
    except (_core.EngineClosedError, _core.SessionClosedError):
        pass
    else:
        raise AssertionError("generate after close was accepted")


def test_creates_racing_for_one_id(engine: _core.Engine) -> None:
    sid = new_id()
    created: list[_core.Session] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            s = engine.create_session(sid, "ohlcv", context_size=512)
        except ValueError as e:
            with lock:
                refused.append(e)
        else:
            with lock:
                created.append(s)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert len(refused) == 3
    assert all("already in use" in str(e) for e in refused)
    assert engine.session_ids().count(sid) == 1
    engine.destroy_session(sid)
