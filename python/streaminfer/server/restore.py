"""Bringing sessions back: at start-up from the state directory, and by import.

A saved session comes back under its id with its flash queries (same ids)
and counters: its checkpoint is restored (from kv.bin when it matches, else
by decoding its entries), then the records logged after the checkpoint are
pushed again, as they were first pushed. ``/v1/health`` answers 503 with
the progress until every saved session is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streaminfer.server import session_file
from streaminfer.server.durable import CHECKPOINT, StateDir

if TYPE_CHECKING:
    from streaminfer._core import Engine, Session
    from streaminfer.server.runtime import Runtime

logger = logging.getLogger("streaminfer.server")

# Records pushed again per call, at most: the queue takes them as it has room.
REPLAY_CHUNK = 512
# Sessions restored at once (each holds its kv.bin in memory meanwhile).
RESTORE_CONCURRENCY = 4


@dataclass
class RestoreProgress:
    sessions_total: int = 0
    sessions_restored: int = 0
    sessions_failed: int = 0
    from_kv: int = 0  # sessions whose KV cache loaded from kv.bin
    records_restored: int = 0  # window records plus records pushed again
    records_lost: int = 0  # to a torn log tail (as far as the entries' headers tell)
    done: bool = False

    def describe(self) -> str:
        return (
            f"restoring saved sessions: {self.sessions_restored + self.sessions_failed} of "
            f"{self.sessions_total} done, {self.records_restored} records"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "sessions_total": self.sessions_total,
            "sessions_restored": self.sessions_restored,
            "sessions_failed": self.sessions_failed,
            "from_kv": self.from_kv,
            "records_restored": self.records_restored,
            "records_lost": self.records_lost,
            "done": self.done,
        }


async def push_again(session: Session, records: list[Any]) -> None:
    """Push ``records`` into the session's queue, waiting for room rather than dropping."""
    i = 0
    while i < len(records):
        state = session.state()
        room = state.queue_capacity - state.queue_size
        if room <= 0:
            await asyncio.sleep(0.005)
            continue
        chunk = records[i : i + min(room, REPLAY_CHUNK)]
        i += session.push(chunk).pushed


async def restore_session(rt: Runtime, engine: Engine, state: StateDir, directory: Path) -> int:
    """Restore one saved session; returns the records it holds and queued again."""
    progress = rt.restore_progress
    file = session_file.read((directory / CHECKPOINT).read_bytes())
    session_id = directory.name
    if file.header.get("session_id") != session_id:
        raise session_file.SessionFileError(f"the checkpoint names session {file.header.get('session_id')!r}")
    kv_state = await asyncio.to_thread(state.load_kv_state, directory, file)
    store, report = state.open_store(session_id, file.spec, file.next_seq)
    if report.truncated_bytes:
        more = " (at least)" if report.lost_unknown else ""
        logger.warning(
            "session %s: torn log tail: %s; %d records lost%s",
            session_id,
            report.detail,
            report.lost_records,
            more,
        )
        progress.records_lost += report.lost_records
    spec = file.spec
    session = await asyncio.to_thread(spec.create, engine, session_id, None, file.checkpoint(kv_state))
    entry = rt.registry.add(session, rt.session_kv_bytes(spec.context_size))
    entry.spec, entry.store = spec, store
    progress.from_kv += session.restored_from_kv
    pending = [record for _, record in store.log.read_from(file.next_seq)]
    await push_again(session, pending)
    enqueued = session.state().counters.total_enqueued
    if enqueued != store.log.next_seq:  # the log ends where the session's numbering goes on
        raise RuntimeError(f"the log ends at record {store.log.next_seq}, the restored session at {enqueued}")
    window = sum("record" in e for e in file.window)
    return window + len(pending)


async def restore_all(rt: Runtime, engine: Engine, state: StateDir) -> None:
    """Restore every saved session, RESTORE_CONCURRENCY at a time: a restore is a control
    task of the decode thread and runs before any flash answer, so restores queued
    together run back to back, not each behind the flash answers of the one before."""
    progress = rt.restore_progress
    saved = state.saved()
    progress.sessions_total = len(saved)
    started = time.perf_counter()
    slots = asyncio.Semaphore(RESTORE_CONCURRENCY)

    async def restore(directory: Path) -> None:
        async with slots:
            try:
                records = await restore_session(rt, engine, state, directory)
                progress.records_restored += records  # not `+= await`: it would add to a stale total
                progress.sessions_restored += 1
            except Exception as exc:
                progress.sessions_failed += 1
                if directory.name in rt.registry:
                    rt.registry.remove(directory.name)
                    await asyncio.to_thread(engine.destroy_session, directory.name)
                target = state.set_aside(directory, f"{type(exc).__name__}: {exc}")
                logger.error("session %s not restored (%s); its files are in %s", directory.name, exc, target)
            rt.announce(f"{progress.describe()} ({time.perf_counter() - started:.2f} s)")

    await asyncio.gather(*(restore(directory) for directory in saved))
    progress.done = True
