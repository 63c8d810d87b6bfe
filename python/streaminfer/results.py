"""Typed results and events of the in-process engine (``streaminfer.Engine``).

Their fields carry the names and meanings of the wire format (docs/api.md), so
code written against one reads the other alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class PushResult:
    """What a push did (docs/api.md, ``POST /v1/sessions/{id}/stream/push``)."""

    pushed: int  # accepted into the session's queue
    dropped: int  # refused by a full queue (counted in total_dropped, never decoded)
    queue_size: int
    queue_capacity: int
    total_enqueued: int
    total_dropped: int


@dataclass(frozen=True)
class FlashAnswer:
    """A standing question and its latest answer (``flash_ready`` on the wire)."""

    id: int
    query: str
    value: str  # "" before the first answer
    confidence: float  # mean top-1/top-2 probability gap over the answer, [0, 1]
    data_version: int  # the data the answer saw; 0 before the first answer
    evaluated_at: int  # Unix milliseconds; 0 before the first answer


@dataclass(frozen=True)
class DataUpdated:
    """A data batch (or an append) was decoded into the window."""

    data_version: int
    data_count: int  # records in the window
    pos_next: int


@dataclass(frozen=True)
class SessionError:
    """Decoding failed for this session (it goes on with the next batch)."""

    message: str


Event: TypeAlias = FlashAnswer | DataUpdated | SessionError
"""What a session's event callbacks and ``Session.events()`` deliver."""


@dataclass(frozen=True)
class Answer:
    """An answer to an ad-hoc question (docs/api.md, ``POST /v1/sessions/{id}/generate``)."""

    text: str
    n_tokens: int
    confidence: float
    data_version: int  # the data the answer saw
    from_cache: bool  # the question is a flash query whose answer was current: no tokens spent
    finish_reason: str  # "stop", or "length" when max_tokens ended it


@dataclass(frozen=True)
class SessionStatus:
    """Where a session stands (docs/api.md, ``GET /v1/sessions/{id}/stream/status``)."""

    data_count: int  # records in the window
    window_size: int
    queue_size: int  # accepted, not yet decoded or skipped
    data_version: int
    total_enqueued: int
    total_dropped: int
    items_processed: int  # records decoded into the window
    skipped: int  # accepted and never decoded (older than the window when decoding fell behind)
    evicted: int  # records that slid out of the window
