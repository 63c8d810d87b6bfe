"""The session registry: ids, the session limit, and use bookkeeping.

Owned by the event loop thread (no locks): every method is called from it.
A slot is reserved before the (slow, threaded) creation starts, so two
concurrent inits can never exceed ``max_sessions``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streaminfer.server.errors import MaxSessions, SessionNotFound

if TYPE_CHECKING:
    from streaminfer._core import Session


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

    @property
    def in_use(self) -> bool:
        return self.active > 0


class SessionRegistry:
    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._entries: dict[str, SessionEntry] = {}
        self._reserved = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._entries

    @contextmanager
    def reserve(self) -> Iterator[str]:
        """A fresh session id and a held slot; 429 when every slot is taken.

        The slot is released on exit; ``add`` the session inside the block to keep it.
        """
        if len(self._entries) + self._reserved >= self.max_sessions:
            raise MaxSessions(f"session limit reached ({self.max_sessions} sessions); delete a session first")
        self._reserved += 1
        try:
            session_id = new_session_id()
            while session_id in self._entries:
                session_id = new_session_id()
            yield session_id
        finally:
            self._reserved -= 1

    def add(self, session: Session) -> SessionEntry:
        entry = SessionEntry(session)
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
