"""The core's per-stage latency histograms (``Session.latency()``) after a known workload."""

from __future__ import annotations

from engine_helpers import LATENCY_STAGES, QUESTION, EventCollector, new_id, ohlcv_records, wait_idle
from polling import wait_for

from streaminfer import _core


def test_latency_bounds_hold_the_prometheus_buckets() -> None:
    bounds = _core.LATENCY_BOUNDS_US
    assert len(bounds) == 71 and bounds[0] == 10 and bounds[-1] == 100_000_000
    assert bounds == sorted(set(bounds))
    ms = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 60_000]
    assert {round(m * 1000) for m in ms} <= set(bounds)


def test_latency_stages_after_a_known_workload(engine: _core.Engine, events: EventCollector) -> None:
    s = engine.create_session(new_id(), "ohlcv", context_size=1024, flash=[(QUESTION, 4)])
    n_pushes, per_push = 5, 4
    records = ohlcv_records(n_pushes * per_push, seed=8)
    for i in range(n_pushes):
        s.push(records[i * per_push : (i + 1) * per_push])
        wait_idle(s, expected_enqueued=(i + 1) * per_push)
    wait_for(
        lambda: all(q.data_version == s.data_version() for q in s.list_flash()), 120, "flash answers", 0.02
    )
    assert s.cached_answer(QUESTION) is not None
    rid = s.generate("What is the last close?", max_tokens=6)
    events.wait_for(
        lambda: any(e.get("request_id") == rid and e["type"] == "generate_done" for e in events.events)
    )
    streamed = any(e.get("request_id") == rid and e["type"] == "token" for e in events.events)

    c = s.state().counters
    stages = {lat.name: lat for lat in s.latency()}
    assert [lat.name for lat in s.latency()] == list(LATENCY_STAGES)
    assert c.skipped == 0 and c.tokenized == n_pushes * per_push
    expected = {
        "push": n_pushes,
        "record_wait": c.tokenized,
        "tokenize": c.tokenized,
        "decode_batch": c.batches_processed,
        "flash_prefill": c.flash_runs,
        "flash_answer": c.flash_runs,
        "generate_first_token": 1 if streamed else 0,
        "generate_total": 1,
    }
    assert {name: stages[name].count for name in expected} == expected
    assert 1 <= stages["fresh_answer"].count <= c.flash_runs
    assert stages["kv_shift"].count <= c.evicted
    ended = (c.generate_completed, c.generate_failed, c.generate_cancelled)
    assert c.generate_requests == 1 and ended == (1, 0, 0)
    assert c.generate_cached == 1
    assert c.prefix_tokens == s.state().prefix_end

    bounds = _core.LATENCY_BOUNDS_US
    for lat in stages.values():
        assert lat.description
        assert len(lat.counts) == len(bounds) + 1 and sum(lat.counts) == lat.count
        if lat.count == 0:
            assert (lat.sum_us, lat.p50_us, lat.p95_us, lat.p99_us) == (0, 0.0, 0.0, 0.0)
            continue
        # Within the buckets that hold observations: from the lower edge of the
        # first to the bound of the last (the last finite bound for overflow).
        nonempty = [i for i, n in enumerate(lat.counts) if n > 0]
        low = 0 if nonempty[0] == 0 else bounds[nonempty[0] - 1]
        high = bounds[min(nonempty[-1], len(bounds) - 1)]
        assert low <= lat.p50_us <= lat.p95_us <= lat.p99_us <= high, lat.name
        if nonempty[-1] < len(bounds):
            assert low <= lat.sum_us / lat.count <= high, lat.name
    assert stages["record_wait"].sum_us >= stages["tokenize"].sum_us
    engine.destroy_session(s.session_id)
