"""The session registry: ids, the session limit, the KV memory budget, and use bookkeeping.

Owned by the event loop thread (no locks): every method is called from it.
A slot (and its KV bytes) is reserved before the (slow, threaded) creation
starts, so two concurrent inits can never exceed ``max_sessions`` nor the budget.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streaminfer.server.errors import KVMemoryExhausted, MaxSessions, SessionNotFound

if TYPE_CHECKING:
    from streaminfer._core import Session
    from streaminfer.server.durable import SessionStore
    from streaminfer.server.session_file import SessionSpec


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_session_id() -> str:
    """``sess_`` + 24 lowercase hex characters from the OS CSPRNG."""
    return "sess_" + secrets.token_hex(12)


@dataclass
class SessionEntry:
    session: Session
    created_at: int = field(default_factory=now_ms)
    last_used_at: int = field(default_factory=now_ms)
    # Requests being handled plus SSE/WebSocket connections attached right now.
    active: int = 0
    # What the session's KV cache counts against --max-kv-memory.
    kv_bytes: int = 0
    # Idle this long, the session is deleted (0: never).
    ttl_s: float = 0.0
    # What it was created with (export writes it), and its files with --state-dir.
    spec: SessionSpec | None = None
    store: SessionStore | None = None

    @property
    def in_use(self) -> bool:
        return self.active > 0

    def idle_s(self, now: int | None = None) -> float:
        """Seconds since the last use ended; 0 while in use."""
        if self.in_use:
            return 0.0
        return max(0, (now_ms() if now is None else now) - self.last_used_at) / 1000

    def expires_in_s(self, now: int | None = None) -> float | None:
        """Seconds of idleness left before the session is deleted; None when it never is."""
        if self.ttl_s <= 0:
            return None
        return max(0.0, self.ttl_s - self.idle_s(now))


def mib(n_bytes: int) -> str:
    return f"{n_bytes / (1 << 20):.1f} MiB"


class SessionRegistry:
    def __init__(self, max_sessions: int, max_kv_bytes: int = 0, ttl_s: float = 0.0) -> None:
        self.max_sessions = max_sessions
        self.max_kv_bytes = max_kv_bytes  # 0: no budget
        self.ttl_s = ttl_s
        self._entries: dict[str, SessionEntry] = {}
        self._reserved = 0
        self._reserved_kv = 0

    @property
    def kv_bytes_in_use(self) -> int:
        """KV bytes of the sessions that exist and of those being created."""
        return sum(entry.kv_bytes for entry in self._entries.values()) + self._reserved_kv

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._entries

    @contextmanager
    def reserve(self, kv_bytes: int = 0) -> Iterator[str]:
        """A fresh session id and a held slot with ``kv_bytes`` of the KV budget; 429 when
        every slot is taken, 507 when the bytes do not fit.

        Both are released on exit; ``add`` the session inside the block to keep them.
        """
        if len(self._entries) + self._reserved >= self.max_sessions:
            raise MaxSessions(f"session limit reached ({self.max_sessions} sessions); delete a session first")
        in_use = self.kv_bytes_in_use
        if self.max_kv_bytes and in_use + kv_bytes > self.max_kv_bytes:
            raise KVMemoryExhausted(
                f"the session's KV cache needs {kv_bytes} bytes ({mib(kv_bytes)}); {in_use} bytes "
                f"({mib(in_use)}) are in use by other sessions and the budget (--max-kv-memory) is "
                f"{self.max_kv_bytes} bytes ({mib(self.max_kv_bytes)}); delete a session or ask for a "
                "smaller context_size"
            )
        self._reserved += 1
        self._reserved_kv += kv_bytes
        try:
            session_id = new_session_id()
            while session_id in self._entries:
                session_id = new_session_id()
            yield session_id
        finally:
            self._reserved -= 1
            self._reserved_kv -= kv_bytes

    def add(self, session: Session, kv_bytes: int = 0) -> SessionEntry:
        entry = SessionEntry(session, kv_bytes=kv_bytes, ttl_s=self.ttl_s)
        self._entries[session.session_id] = entry
        return entry

    def get(self, session_id: str) -> SessionEntry:
        entry = self._entries.get(session_id)
        if entry is None:
            raise SessionNotFound(f"session {session_id!r} not found", param="session_id")
        return entry

    def remove(self, session_id: str) -> SessionEntry:
        entry = self.get(session_id)
        del self._entries[session_id]
        return entry

    def entries(self) -> list[tuple[str, SessionEntry]]:
        return list(self._entries.items())

    def clear(self) -> list[str]:
        ids = list(self._entries)
        self._entries.clear()
        return ids

    def is_expired(self, session_id: str, now: int | None = None) -> bool:
        """The session exists and has been idle for the TTL or longer (never when the TTL is 0)."""
        entry = self._entries.get(session_id)
        return entry is not None and self.ttl_s > 0 and entry.idle_s(now) >= self.ttl_s

    def expired(self) -> list[str]:
        """The sessions idle for the TTL or longer."""
        now = now_ms()
        return [sid for sid in self._entries if self.is_expired(sid, now)]

    def touch(self, session_id: str) -> SessionEntry:
        """Look the session up (404) for a read: it counts as a use, but not as work in progress."""
        entry = self.get(session_id)
        entry.last_used_at = now_ms()
        return entry

    @contextmanager
    def use(self, session_id: str) -> Iterator[SessionEntry]:
        """Look the session up (404), and count it in use for the block."""
        entry = self.get(session_id)
        entry.active += 1
        entry.last_used_at = now_ms()
        try:
            yield entry
        finally:
            entry.active -= 1
            entry.last_used_at = now_ms()
