"""Helpers for the engine tests: record generators, waiting and event collection."""

from __future__ import annotations

import itertools
import random
import secrets
import select
from collections.abc import Callable
from typing import Any

from polling import wait_for

from streaminfer import _core

QUESTION = "Is the trend bullish or bearish?"
# The core's latency stages, in its order (cpp/src/latency-stages.h).
LATENCY_STAGES = (
    "push",
    "record_wait",
    "tokenize",
    "decode_batch",
    "kv_shift",
    "flash_prefill",
    "flash_answer",
    "fresh_answer",
    "generate_first_token",
    "generate_total",
)
_ids = itertools.count()


def new_id() -> str:
    return f"sess_{next(_ids):04d}{secrets.token_hex(10)}"


def ohlcv_records(
    n: int, *, seed: int = 0, start: float = 100.0, t0: int = 1_700_000_000
) -> list[dict[str, Any]]:
    """A random walk of candles, one per minute."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    price = start
    for i in range(n):
        o = price
        c = max(1.0, o + rng.uniform(-1.0, 1.1))
        out.append(
            {
                "o": round(o, 2),
                "h": round(max(o, c) + rng.uniform(0, 0.5), 2),
                "l": round(min(o, c) - rng.uniform(0, 0.5), 2),
                "c": round(c, 2),
                "v": rng.randint(1000, 99999),
                "timestamp": t0 + 60 * i,
            }
        )
        price = c
    return out


def wait_idle(
    session: _core.Session, expected_enqueued: int | None = None, timeout: float = 180.0
) -> _core.SessionState:
    """Waits until every enqueued record was decoded or skipped (and flash queries answered)."""

    def idle() -> _core.SessionState | None:
        st = session.state()
        settled = (
            st.counters.items_processed + st.counters.skipped == st.counters.total_enqueued
            and st.queue_size == 0
        )
        if expected_enqueued is not None:
            settled = settled and st.counters.total_enqueued == expected_enqueued
        return st if settled else None

    return wait_for(idle, timeout, f"session {session.session_id} to go idle", interval=0.02)


class EventCollector:
    """Drains the engine's events the way the server does: wait on event_fd, then poll."""

    def __init__(self, engine: _core.Engine) -> None:
        self.engine = engine
        self.events: list[dict[str, Any]] = []

    def pump(self, timeout: float = 0.2) -> None:
        select.select([self.engine.event_fd], [], [], timeout)
        self.events.extend(self.engine.poll_events())

    def of(self, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e["session_id"] == session_id and (kind is None or e["type"] == kind)
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 120.0, what: str = "events") -> None:
        """Until ``predicate()`` holds over the events collected so far; the time between
        checks is spent waiting on event_fd, so an event is seen as soon as it comes."""

        def seen() -> bool:
            if predicate():
                return True
            self.pump()
            return predicate()

        wait_for(seen, timeout, what, interval=0.0)
