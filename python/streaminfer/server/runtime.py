"""What the routes share: the engine (once loaded), the event hub, the session registry
and, with ``--state-dir``, the sessions' files.

The engine loads in a worker thread after the server starts listening, so
``/v1/health`` answers 503 while the model loads, warms up and the saved
sessions are restored, then 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from streaminfer.server.config import ServerConfig
from streaminfer.server.durable import KVIdentity, StateDir, file_sha256
from streaminfer.server.errors import EngineNotReady, StateWriteFailed, core_errors, state_write_errors
from streaminfer.server.generations import GenerateSlots
from streaminfer.server.hub import EventHub
from streaminfer.server.registry import SessionEntry, SessionRegistry
from streaminfer.server.restore import RestoreProgress, restore_all

if TYPE_CHECKING:
    from streaminfer._core import Engine

logger = logging.getLogger("streaminfer.server")

Announce = Callable[[str], None]


class Runtime:
    def __init__(
        self,
        config: ServerConfig,
        engine: Engine | None = None,
        *,
        announce: Announce | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.config = config
        self.engine: Engine | None = engine
        self.owns_engine = engine is None
        self.hub: EventHub | None = None
        self.registry = SessionRegistry(config.max_sessions, config.max_kv_bytes, config.session_ttl_s)
        self.generate_slots = GenerateSlots(config.max_generates_per_session, config.max_generates)
        self.ready = False
        self.error: str | None = None
        self.state: StateDir | None = None
        self.restore_progress = RestoreProgress(done=config.state_dir is None)
        self.announce = announce or logger.info
        self._on_fatal = on_fatal
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        """Load (unless given) and warm up the engine, then attach the event hub."""
        try:
            if self.engine is None:
                cfg = self.config
                self.announce(
                    f"loading model {cfg.model_path} (ctx {cfg.ctx_size}, threads {cfg.threads or 'auto'})"
                )
                started = time.perf_counter()
                self.engine = await asyncio.to_thread(self._load)
                self.announce(
                    f"model loaded in {time.perf_counter() - started:.2f} s "
                    f"(threads {self.engine.n_threads}, ctx {self.engine.n_ctx})"
                )
            engine = self.engine
            started = time.perf_counter()
            await asyncio.to_thread(self._warm_up, engine)
            hub = EventHub(engine, self.config.subscriber_queue_size)
            hub.start(asyncio.get_running_loop())
            self.hub = hub
            if self.config.state_dir is not None:
                self.state = await asyncio.to_thread(self._open_state_dir, engine)
                await restore_all(self, engine, self.state)
            self.ready = True
            if self.config.session_ttl_s > 0:
                self._sweeper = asyncio.ensure_future(self._sweep_idle(self.config.session_ttl_s))
            self.announce(f"warm-up done in {time.perf_counter() - started:.2f} s; ready")
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("engine start failed: %s", self.error)
            if self._on_fatal is not None:
                self._on_fatal(exc)

    def _load(self) -> Engine:
        from streaminfer import _core

        cfg = self.config
        return _core.Engine(
            cfg.model_path,
            n_ctx=cfg.ctx_size,
            n_threads=cfg.threads,
            n_gpu_layers=cfg.n_gpu_layers,
            queue_capacity=cfg.queue_capacity,
            worker_nice=cfg.worker_nice,
            flash_attn=cfg.flash_attn,
            offload_kv=cfg.offload_kv,
            repack=cfg.repack,
        )

    def _open_state_dir(self, engine: Engine) -> StateDir:
        cfg = self.config
        assert cfg.state_dir is not None
        self.announce(f"state directory {cfg.state_dir} (fsync {cfg.fsync}); hashing the model file")
        identity = KVIdentity(file_sha256(Path(cfg.model_path)), _core_build_id(), cfg.flash_attn)
        return StateDir(Path(cfg.state_dir), cfg.fsync, identity)

    def session_kv_bytes(self, context_size: int) -> int:
        """The KV bytes a session of ``context_size`` tokens (0: the server's) will hold."""
        engine, _ = self.require(starting=True)
        model = engine.model
        n_ctx = context_size or engine.n_ctx
        # The core refuses a size outside [1, n_ctx_train]; counted within it, such a request
        # gets that 422 rather than a 507 for a context it could never have.
        return model.kv_bytes(min(max(n_ctx, 1), model.n_ctx_train))

    @staticmethod
    def _warm_up(engine: Engine) -> None:
        session_id = "warmup_" + secrets.token_hex(6)
        engine.create_session(session_id, "ohlcv", "Warm-up.")
        engine.destroy_session(session_id)

    async def begin_shutdown(self, grace_s: float = 1.0) -> None:
        """The server stops accepting work: new requests get 503, streams end now
        (so that open SSE streams and WebSockets do not hold the shutdown back).

        Waits up to ``grace_s`` for them to end, so that each WebSocket is closed by its
        handler (1001, "server stopping") before uvicorn closes what is left (1012).
        """
        self.ready = False
        hub = self.hub
        if hub is None:
            return
        hub.end_streams()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while hub.subscriber_count() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def _sweep_idle(self, ttl_s: float) -> None:
        """Delete the sessions idle for ``ttl_s``, checking often enough to be late by a
        quarter of the TTL at most (and at least once a minute)."""
        period = min(60.0, max(0.05, ttl_s / 4))
        while True:
            await asyncio.sleep(period)
            for session_id in self.registry.expired():
                if not self.registry.is_expired(session_id):  # deleted or used while we awaited
                    continue
                logger.info("session %s idle for %g s: deleted", session_id, ttl_s)
                try:
                    await self.drop_session(session_id, "the session expired (idle for --session-ttl)")
                except Exception:  # one failure must not end the sweep
                    logger.exception("deleting expired session %s failed", session_id)

    async def persist(self, entry: SessionEntry) -> None:
        """With --state-dir: give a new session its files, and write its checkpoint now."""
        if self.state is None or entry.spec is None:
            return
        session = entry.session
        try:
            seq = session.state().counters.total_enqueued
            entry.store, _ = self.state.open_store(session.session_id, entry.spec, seq)
            await entry.store.checkpoint(session)
        except OSError as exc:
            await self.drop_session(session.session_id, "its files could not be written")
            raise StateWriteFailed(f"could not write the session's files: {exc}") from exc

    async def drop_session(self, session_id: str, reason: str) -> None:
        """Delete a session: subscribers and waiters are told ``reason``, its KV memory is freed."""
        engine, hub = self.require()
        self.registry.remove(session_id)
        if self.state is not None:
            self.state.remove(session_id)
        hub.close_session(session_id, reason)
        with core_errors():
            await asyncio.to_thread(engine.destroy_session, session_id)

    async def stop(self) -> None:
        self.ready = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.state is not None:
            await self._save_all(self.state)
        if self.hub is not None:
            self.hub.stop()
            self.hub = None
        ids = self.registry.clear()
        engine = self.engine
        if engine is None:
            return
        if self.owns_engine:
            await asyncio.to_thread(engine.close)
            self.engine = None
        else:
            for session_id in ids:
                await asyncio.to_thread(engine.destroy_session, session_id)

    async def _save_all(self, state: StateDir) -> None:
        """Checkpoint every session with its KV state (the restart's fast path), then close."""
        started = time.perf_counter()
        entries = [(sid, entry) for sid, entry in self.registry.entries() if entry.store is not None]
        for session_id, entry in entries:
            assert entry.store is not None
            try:
                await entry.store.checkpoint(entry.session, with_kv=True)
            except Exception:  # its log holds its records: the restart decodes them
                logger.exception("saving session %s failed", session_id)
        await state.close()
        self.state = None
        if entries:
            self.announce(f"saved {len(entries)} sessions in {time.perf_counter() - started:.2f} s")

    # -- access from routes -------------------------------------------------
    def require(self, *, starting: bool = False) -> tuple[Engine, EventHub]:
        """The engine and hub, once the server is ready (``starting``: once they exist,
        for the restore); 503 before."""
        ready = self.ready or (starting and not self.restore_progress.done)
        if not ready or self.engine is None or self.hub is None:
            if self.error:
                detail = f"engine failed to start: {self.error}"
            elif self.hub is not None and not self.restore_progress.done:
                detail = self.restore_progress.describe()
            else:
                detail = "the model is still loading"
            raise EngineNotReady(detail, headers={"Retry-After": "5"})
        return self.engine, self.hub


def _core_build_id() -> str:
    from streaminfer import _core

    return _core.LLAMA_BUILD_ID


def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


async def checkpoint_change(entry: SessionEntry) -> None:
    """After a change of what a session is (flash queries, appended text, mark_prefix):
    with --state-dir, it is on disk before the request is answered."""
    if entry.store is not None:
        with core_errors(), state_write_errors():
            await entry.store.checkpoint(entry.session)


def touch_session(conn: HTTPConnection) -> SessionEntry:
    """The entry of the path's session, for a read: 503 before the engine is up, 404 for an unknown id."""
    rt = get_runtime(conn)
    rt.require()
    return rt.registry.touch(conn.path_params["session_id"])
