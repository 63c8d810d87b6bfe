"""Every read of what ``streaminfer._core`` returns, and the waits built on them.

The benchmarks that drive the engine in process learn its progress only here:
``snapshot`` (``Session.state()``), ``flash_fresh`` and ``flash_query_tokens``
(``Session.list_flash()``), ``probe`` (``Session.probe()``),
``has_cached_answer`` (``Session.cached_answer()``) and ``build_description``
(``system_info()``). Everything else uses the plain values these return, so
a change in the shape of the core's results is a change in this module only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.workload import Record
from streaminfer import _core


@dataclass(frozen=True)
class Snapshot:
    """The figures of one ``Session.state()`` the benchmarks use."""

    enqueued: int  # records accepted so far
    processed: int  # records decoded into the window
    skipped: int  # records passed over (they would have been evicted before any question)
    queue_size: int
    evicted: int
    data_tokens: int  # tokens of every record decoded so far
    process_time_us: int  # decode thread time spent on records
    batches: int
    pos_next: int  # the next position in the sequence: the depth the next batch lands at
    window_size: int
    data_count: int  # records in the window now
    flash_runs: int
    last_flash_time_us: int
    avg_flash_time_us: float

    @property
    def in_flight(self) -> int:
        """Records accepted and neither decoded nor skipped yet."""
        return self.enqueued - self.processed - self.skipped


def snapshot(session: _core.Session) -> Snapshot:
    st = session.state()
    c = st.counters
    return Snapshot(
        enqueued=c.total_enqueued,
        processed=c.items_processed,
        skipped=c.skipped,
        queue_size=st.queue_size,
        evicted=c.evicted,
        data_tokens=c.total_data_tokens,
        process_time_us=c.total_process_time_us,
        batches=c.batches_processed,
        pos_next=st.pos_next,
        window_size=st.window_size,
        data_count=st.data_count,
        flash_runs=c.flash_runs,
        last_flash_time_us=c.last_flash_time_us,
        avg_flash_time_us=c.total_flash_time_us / c.flash_runs if c.flash_runs else 0.0,
    )


def flash_fresh(session: _core.Session) -> bool:
    """Every flash query answered at the session's current data_version."""
    version = session.data_version()
    return all(q.has_answer and q.data_version == version for q in session.list_flash())


def flash_query_tokens(session: _core.Session) -> int:
    """Tokens of every flash question together: what each refresh prefills."""
    return sum(q.n_tokens for q in session.list_flash())


@dataclass(frozen=True)
class Answer:
    text: str
    logits: list[float]  # the first step's [n_vocab]


def probe(session: _core.Session, question: str, max_tokens: int) -> Answer:
    """A greedy answer now, with its first step's logits."""
    got = session.probe(question, max_tokens)
    return Answer(got.text, list(got.logits))


def has_cached_answer(session: _core.Session, question: str) -> bool:
    """Whether ``question`` would be answered from a fresh flash answer."""
    return session.cached_answer(question) is not None


def build_description() -> dict[str, Any]:
    """Which build of the core this process runs: its kind, CPU variant and features, GPUs."""
    info = _core.system_info()
    return {
        "build": info.build,
        "variant": info.cpu_variant,
        "features": list(info.cpu_features),
        "gpus": [f"{g.description} ({g.memory_total / 2**30:.0f} GiB)" for g in info.gpus],
    }


def new_session_id() -> str:
    return f"sess_{secrets.token_hex(12)}"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


def settled(session: _core.Session, enqueued: int) -> bool:
    """``enqueued`` records accepted, and every one decoded or skipped."""
    st = snapshot(session)
    return st.enqueued == enqueued and st.in_flight == 0 and st.queue_size == 0


def wait_settled(session: _core.Session, enqueued: int, timeout: float = 600.0) -> Snapshot:
    wait_until(lambda: settled(session, enqueued), timeout, f"{session.session_id} to settle")
    return snapshot(session)


def wait_flash_fresh(session: _core.Session, timeout: float = 300.0) -> None:
    wait_until(lambda: flash_fresh(session), timeout, "flash answers")


def fill(session: _core.Session, records: list[Record], per_push: int = 0) -> Snapshot:
    """Push ``records``, ``per_push`` at a time (default: a window's worth), waiting until
    each push is decoded, then until every flash answer is fresh."""
    done = snapshot(session).enqueued
    step = per_push or session.window_size
    for i in range(0, len(records), step):
        chunk = records[i : i + step]
        session.push(chunk)
        done += len(chunk)
        wait_settled(session, done)
    if session.flash_count():
        wait_flash_fresh(session)
    return snapshot(session)
