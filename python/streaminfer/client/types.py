"""The server's answers as typed objects (docs/api.md gives each field's meaning).

Each class mirrors one response shape of the server (``streaminfer.server.responses``,
checked field by field in the tests); ``decode`` builds one from JSON and
ignores fields a newer server adds. Events and push results are the in-process
engine's own types (``streaminfer.results``), so code reads both alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, Union

from streaminfer.results import DataUpdated, FlashAnswer, PushResult, SessionError

T = TypeVar("T")


@dataclass(frozen=True)
class SessionCreated:
    session_id: str
    type: str
    n_tokens: int
    context_size: int
    window_size: int
    flash_queries: int
    pos_max: int


@dataclass(frozen=True)
class SessionSummary:
    session_id: str
    n_tokens: int
    context_size: int
    prefix_end: int
    last_inject_us: int
    cache_usage: float
    created_at: int
    last_used_at: int
    in_use: bool
    idle_s: float
    expires_in_s: float | None
    kv_bytes: int


@dataclass(frozen=True)
class SessionList:
    sessions: list[SessionSummary]
    count: int
    max_sessions: int


@dataclass(frozen=True)
class DataRegion:
    start: int
    end: int
    window_size: int


@dataclass(frozen=True)
class SessionState(SessionSummary):
    type: str
    pos_min: int
    pos_max: int
    pos_next: int
    data_region: DataRegion
    data_count: int
    context_text: str


@dataclass(frozen=True)
class Slot:
    name: str
    start: int
    end: int
    n_tokens: int


@dataclass(frozen=True)
class Slots:
    slots: list[Slot]
    prefix_end: int
    data_region: DataRegion
    pos_next: int
    total_tokens: int


@dataclass(frozen=True)
class Appended:
    n_tokens_added: int
    total_tokens: int
    pos_max: int


@dataclass(frozen=True)
class PrefixMarked:
    prefix_end: int
    message: str


@dataclass(frozen=True)
class SessionSaved:
    success: bool
    data_version: int
    window_records: int
    pending_records: int
    kv_state_bytes: int
    log_bytes: int


@dataclass(frozen=True)
class Streaming:
    initialized: bool
    running: bool
    error: bool
    queue_size: int
    queue_capacity: int
    window_size: int
    process_interval_us: int


@dataclass(frozen=True)
class StreamStatistics:
    total_enqueued: int
    total_dropped: int
    skipped: int
    batches_processed: int
    items_processed: int
    total_process_time_us: int
    avg_process_time_us: float


@dataclass(frozen=True)
class StreamData:
    initialized: bool
    data_count: int
    total_data_tokens: int
    pos_next: int


@dataclass(frozen=True)
class StreamStatus:
    type: str
    streaming: Streaming
    statistics: StreamStatistics
    data: StreamData


@dataclass(frozen=True)
class StageLatency:
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class WindowStats:
    type: str
    count: int
    latency: dict[str, StageLatency]
    values: dict[str, Any]  # the type's own statistics (docs/api.md, "/stats"), by key


@dataclass(frozen=True)
class FlashRegistered:
    id: int
    query: str
    max_tokens: int
    n_tokens: int
    total_flash_queries: int
    status: str


@dataclass(frozen=True)
class FlashQuery:
    id: int
    query: str
    max_tokens: int
    n_tokens: int
    has_answer: bool
    value: str
    data_version: int
    confidence: float
    evaluated_at: int
    last_evaluated_ms: int


@dataclass(frozen=True)
class FlashList:
    flash_queries: list[FlashQuery]
    count: int
    current_data_version: int


@dataclass(frozen=True)
class FlashDeleted:
    success: bool
    remaining: int


@dataclass(frozen=True)
class Generated:
    text: str
    n_tokens: int
    tokens_generated: int
    total_tokens: int
    pos_max: int
    from_cache: bool
    confidence: float
    flash: bool
    flash_id: int | None
    data_version: int
    logit_gap: float | None


@dataclass(frozen=True)
class GenerateToken:
    """One piece of a streamed answer."""

    token: str
    pos: int


@dataclass(frozen=True)
class GenerateDone:
    """The streamed answer's last frame: the whole text."""

    text: str
    n_tokens: int


@dataclass(frozen=True)
class Connected:
    """A subscription (SSE or WebSocket) began, or began again after a reconnect: events
    between the last one seen and ``data_version`` were missed."""

    data_version: int
    flash_queries: int


@dataclass(frozen=True)
class Health:
    status: str
    model: str


@dataclass(frozen=True)
class Model:
    id: str
    object: str
    created: int
    owned_by: str


@dataclass(frozen=True)
class EngineStats:
    sessions: int
    events_dropped: int


@dataclass(frozen=True)
class ServerStats:
    sessions: int
    max_sessions: int
    subscribers: int
    generate_waiters: int
    events_dispatched: int
    events_unrouted: int
    events_dropped: int
    largest_backlog: int
    engine: EngineStats


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ChatChoice:
    index: int
    message: ChatMessage
    finish_reason: str


@dataclass(frozen=True)
class ChatUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class ChatExtension:
    session_id: str
    from_cache: bool
    confidence: float
    data_version: int


@dataclass(frozen=True)
class ChatCompletion:
    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    streaminfer: ChatExtension


SessionEvent: TypeAlias = Connected | FlashAnswer | DataUpdated | SessionError
"""What ``events()`` and ``stream()`` yield."""

__all__ = [
    "Appended",
    "ChatCompletion",
    "Connected",
    "DataUpdated",
    "FlashAnswer",
    "FlashDeleted",
    "FlashList",
    "FlashQuery",
    "FlashRegistered",
    "GenerateDone",
    "GenerateToken",
    "Generated",
    "Health",
    "Model",
    "PrefixMarked",
    "PushResult",
    "ServerStats",
    "SessionCreated",
    "SessionError",
    "SessionEvent",
    "SessionList",
    "SessionSaved",
    "SessionState",
    "SessionSummary",
    "Slots",
    "StreamStatus",
    "WindowStats",
]


def decode(cls: type[T], data: Any) -> T:
    """``data`` (parsed JSON) as ``cls``: a dataclass (nested ones, lists, dicts and
    optionals by its annotations). ValueError names a missing or mistyped field."""
    return typing.cast(T, _value(cls, data, cls.__name__))


def _value(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: an object expected")
        hints = typing.get_type_hints(hint)
        values = {}
        for f in dataclasses.fields(hint):
            if f.name not in data:
                raise ValueError(f"{where}.{f.name}: missing")
            values[f.name] = _value(hints[f.name], data[f.name], f"{where}.{f.name}")
        return hint(**values)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_value(item, x, f"{where}[{i}]") for i, x in enumerate(_checked(data, list, where))]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _value(item, v, f"{where}.{k}") for k, v in _checked(data, dict, where).items()}
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, data, where)
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if hint is Any or (isinstance(hint, type) and isinstance(data, hint)):
        return data
    raise ValueError(f"{where}: {getattr(hint, '__name__', hint)} expected, not {type(data).__name__}")


def _checked(data: Any, kind: type, where: str) -> Any:
    if not isinstance(data, kind):
        raise ValueError(f"{where}: {kind.__name__} expected")
    return data
