"""Durable sessions (``--state-dir``): what is written where, and when.

    STATE_DIR/sessions/<session_id>/checkpoint.jsonl   the session file (session_file.py)
                                   /kv.bin             llama.cpp's state of its sequence (optional)
                                   /seg-*.log          its records (record_log.py)
    STATE_DIR/unrestorable/<session_id>-<unix time>/    sessions that could not be brought back

A push is written to the log before it is queued (so before it is acknowledged). A checkpoint (the
window, as the decode thread sees it between two tasks) is written after
the configuration changes, and whenever the log has grown by a window's
worth of records since the last one; the log then drops the segments every
record of which the checkpoint holds. So a session's disk use is bounded by
its window twice over, plus one segment (docs/api.md, "Durable sessions").
``kv.bin`` is written by ``save`` and at shutdown only, and removed by the
next checkpoint without it, so it never describes an older window.

Threads: the event loop owns every SessionStore; blocking file work
(checkpoints, kv.bin) runs in worker threads, one checkpoint per session at
a time (its lock). The record log's flusher has its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streaminfer import _core
from streaminfer.server import session_file
from streaminfer.server.record_log import Flusher, RecordLog, ScanReport, write_atomic
from streaminfer.server.session_file import SessionSpec

if TYPE_CHECKING:
    from streaminfer._core import Session

logger = logging.getLogger("streaminfer.server")

CHECKPOINT = "checkpoint.jsonl"
KV_STATE = "kv.bin"
# Records logged since the last checkpoint that trigger the next one: a window's worth,
# and no fewer than this (so small windows do not checkpoint on every push).
MIN_CHECKPOINT_RECORDS = 256


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class KVIdentity:
    """What a kv.bin must have been written by to load: the same model file and llama.cpp
    state code, and the same context settings."""

    model_sha256: str
    llama_build: str
    flash_attn: str

    def describe(self, context_size: Any) -> dict[str, Any]:
        return {
            "model_sha256": self.model_sha256,
            "llama_build": self.llama_build,
            "flash_attn": self.flash_attn,
            "context_size": context_size,
        }


class SessionStore:
    """One session's files. Event loop only."""

    def __init__(self, state: StateDir, session_id: str, spec: SessionSpec, log: RecordLog) -> None:
        self.state = state
        self.session_id = session_id
        self.spec = spec
        self.log = log
        self.directory = log.directory
        self.logged_since_checkpoint = 0
        self.window_size = 0  # set by the first checkpoint: records that trigger the next
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        self._syncing: asyncio.Future[None] | None = None

    def before_accept(self, records: Sequence[Any]) -> Callable[[int, int], None]:
        """The push's accept hook (``Session.push``): the records the core is about to accept
        are written to the log first, so none is decoded, or checkpointed, before it is on
        file. OSError (a full disk) propagates: the push fails whole and is not acknowledged."""

        def write(first_seq: int, count: int) -> None:
            if first_seq != self.log.next_seq:  # the log and the core number records alike
                raise RuntimeError(f"{self.session_id}: log seq {self.log.next_seq}, core seq {first_seq}")
            self.log.append(records[:count])

        return write

    def accepted(self, pushed: int, session: Session) -> None:
        """After a push: start a checkpoint when the log has grown by a window's worth."""
        self.logged_since_checkpoint += pushed
        due = self.logged_since_checkpoint >= max(self.window_size, MIN_CHECKPOINT_RECORDS)
        if due and self._pending is None:
            self._pending = asyncio.ensure_future(self._background_checkpoint(session))

    async def wait_durable(self) -> None:
        """With --fsync always: return once every record logged so far is on disk. One fsync
        at a time, in a worker thread; the pushes that wait meanwhile share the next one."""
        if self.state.fsync != "always":
            return
        target = self.log.next_seq
        while self.log.durable_seq < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync())
            await asyncio.shield(self._syncing)

    async def _sync(self) -> None:
        try:
            await asyncio.to_thread(self.log.fsync)
        finally:
            self._syncing = None

    async def _background_checkpoint(self, session: Session) -> None:
        try:
            await self.checkpoint(session)
        except Exception:  # the log still holds every record: nothing is lost, the next one retries
            logger.exception("checkpoint of session %s failed", self.session_id)
        finally:
            self._pending = None

    async def checkpoint(self, session: Session, with_kv: bool = False) -> _core.Checkpoint:
        """Write the session's checkpoint (and kv.bin with ``with_kv``), then drop the log
        segments it makes useless."""
        async with self._lock:
            logged = self.logged_since_checkpoint
            cp = await asyncio.to_thread(session.checkpoint, with_kv)
            await asyncio.to_thread(self._write, cp, session.context_size)
            self.window_size = session.window_size
            self.logged_since_checkpoint -= logged
            self.log.roll()
            self.log.drop_before(cp.next_seq)
            return cp

    def _write(self, cp: _core.Checkpoint, context_size: int) -> None:
        kv_path = self.directory / KV_STATE
        kv: dict[str, Any] | None = None
        state = cp.kv_state
        if state:
            write_atomic(kv_path, state, fsync=self.state.fsync != "never")
            kv = {
                **self.state.kv_identity.describe(context_size),
                "sha256": hashlib.sha256(state).hexdigest(),
                "bytes": len(state),
            }
        data = session_file.write(self.session_id, self.spec, cp, kv)
        write_atomic(self.directory / CHECKPOINT, data, fsync=self.state.fsync != "never")
        if not state:
            kv_path.unlink(missing_ok=True)

    async def close(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
        self.log.close()

    def destroy(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self.log.destroy()


class StateDir:
    """The server's state directory."""

    def __init__(self, root: Path, fsync: str, kv_identity: KVIdentity) -> None:
        self.root = root
        self.fsync = fsync
        self.kv_identity = kv_identity
        self.sessions_dir = root / "sessions"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.flusher = Flusher() if fsync == "batch" else None
        if self.flusher is not None:
            self.flusher.start()
        self.stores: dict[str, SessionStore] = {}

    def open_store(
        self, session_id: str, spec: SessionSpec, start_seq: int
    ) -> tuple[SessionStore, ScanReport]:
        log, report = RecordLog.open(self.sessions_dir / session_id, self.fsync, self.flusher, start_seq)
        store = SessionStore(self, session_id, spec, log)
        self.stores[session_id] = store
        return store, report

    def saved(self) -> list[Path]:
        """The saved sessions' directories, in id order."""
        return sorted(p for p in self.sessions_dir.iterdir() if p.is_dir())

    def remove(self, session_id: str) -> None:
        store = self.stores.pop(session_id, None)
        if store is not None:
            store.destroy()

    def set_aside(self, directory: Path, why: str) -> Path:
        """Move a session that cannot be restored out of the way, keeping its files."""
        store = self.stores.pop(directory.name, None)
        if store is not None:
            store.log.close()
        target = self.root / "unrestorable" / f"{directory.name}-{int(time.time())}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(directory), target)
        (target / "WHY.txt").write_text(why + "\n")
        return target

    def load_kv_state(self, directory: Path, file: session_file.SessionFile) -> bytes:
        """kv.bin when it was written by this model and llama.cpp for this context, and is
        intact; else b"" (the session's entries are decoded again)."""
        kv = file.header.get("kv")
        path = directory / KV_STATE
        if not isinstance(kv, dict) or not path.is_file():
            return b""
        expected = self.kv_identity.describe(kv.get("context_size", -1))
        if any(kv.get(key) != value for key, value in expected.items()):
            logger.info("session %s: kv.bin is of another model or build: decoding", directory.name)
            return b""
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != kv.get("sha256"):
            logger.warning("session %s: kv.bin fails its checksum; decoding its window", directory.name)
            return b""
        return data

    async def close(self) -> None:
        for store in list(self.stores.values()):
            await store.close()
        self.stores.clear()
        if self.flusher is not None:
            self.flusher.close()
