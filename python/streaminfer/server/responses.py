"""Response bodies, written once as ``TypedDict`` classes.

views.py builds them (mypy checks every key and type it writes), and the
OpenAPI document describes them (openapi.py): a response carries exactly the
keys its class names. Units and meanings are in docs/api.md.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from streaminfer.server.shapes import open_shape


class ErrorDetail(TypedDict):
    message: Annotated[str, "For people."]
    type: Annotated[str, "A stable string for programs: the error's class."]
    code: Annotated[str, "A stable string for programs: the error itself."]
    param: Annotated[str | None, "The request field at fault (data[3].hdg, flash[1].query), or null."]


class ErrorBody(TypedDict):
    """Every non-2xx response."""

    error: ErrorDetail


class Success(TypedDict):
    success: bool


# -- sessions ----------------------------------------------------------------------


class SessionCreated(TypedDict):
    session_id: Annotated[str, "sess_ and 24 hex characters."]
    type: str
    n_tokens: Annotated[int, "Tokens of the prefix (system prompt and header)."]
    context_size: int
    window_size: Annotated[int, "Records the window holds."]
    flash_queries: int
    pos_max: int


class SessionSaved(TypedDict):
    success: bool
    data_version: Annotated[int, "The data the checkpoint holds."]
    window_records: Annotated[int, "Records in the saved window."]
    pending_records: Annotated[int, "Records logged after the window (queued when it was taken)."]
    kv_state_bytes: Annotated[int, "Bytes of llama.cpp state saved with it (0: none)."]
    log_bytes: Annotated[int, "Bytes of the session's record log on disk."]


class SessionSummary(TypedDict):
    session_id: str
    n_tokens: Annotated[int, "Tokens in the context: prefix, data and appended text."]
    context_size: int
    prefix_end: int
    last_inject_us: Annotated[int, "Unix microseconds of the last decoded batch (0: none yet)."]
    cache_usage: Annotated[float, "n_tokens / context_size."]
    created_at: Annotated[int, "Unix milliseconds."]
    last_used_at: Annotated[int, "Unix milliseconds."]
    in_use: Annotated[bool, "A request or stream is using the session now."]
    idle_s: Annotated[float, "Seconds since the last request or stream on the session ended; 0 while in use."]
    expires_in_s: Annotated[
        float | None, "Idle seconds left before the session is deleted (--session-ttl); null: never."
    ]
    kv_bytes: Annotated[int, "Bytes of KV cache the session counts against --max-kv-memory (an estimate)."]


class SessionList(TypedDict):
    sessions: list[SessionSummary]
    count: int
    max_sessions: int


class DataRegion(TypedDict):
    start: int
    end: int
    window_size: int


class SessionState(SessionSummary):
    type: str
    pos_min: Annotated[int, "As llama.cpp's memory reports it; -1 when empty."]
    pos_max: int
    pos_next: int
    data_region: DataRegion
    data_count: Annotated[int, "Records in the window."]
    context_text: Annotated[str, "The context as text: prefix, records and appended text."]


class Slot(TypedDict):
    name: Literal["prefix", "data", "free"]
    start: int
    end: int
    n_tokens: int


class Slots(TypedDict):
    slots: list[Slot]
    prefix_end: int
    data_region: DataRegion
    pos_next: int
    total_tokens: int


class Appended(TypedDict):
    n_tokens_added: int
    total_tokens: int
    pos_max: int


class PrefixMarked(TypedDict):
    prefix_end: int
    message: str


# -- streaming data ----------------------------------------------------------------


class PushResult(TypedDict):
    pushed: Annotated[int, "Records queued by this push."]
    dropped: Annotated[int, "Records of this push refused because the queue was full."]
    queue_size: Annotated[int, "Records accepted and not yet decoded, after this push."]
    queue_capacity: int
    total_enqueued: int
    total_dropped: int


class Streaming(TypedDict):
    initialized: bool
    running: bool
    error: Annotated[bool, "A decode failed (the session goes on)."]
    queue_size: int
    queue_capacity: int
    window_size: int
    process_interval_us: Annotated[int, "Always 0: records are decoded as they arrive."]


class StreamStatistics(TypedDict):
    total_enqueued: Annotated[int, "Records accepted: items_processed + skipped + queue_size."]
    total_dropped: int
    skipped: Annotated[int, "Records accepted and never decoded (older than the window, or a failed batch)."]
    batches_processed: int
    items_processed: int
    total_process_time_us: int
    avg_process_time_us: float


class StreamData(TypedDict):
    initialized: bool
    data_count: int
    total_data_tokens: int
    pos_next: int


class StreamStatus(TypedDict):
    type: str
    streaming: Streaming
    statistics: StreamStatistics
    data: StreamData


class StageLatency(TypedDict):
    """One stage's latency over the session's life, estimated from its histogram."""

    count: Annotated[int, "Observations."]
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


class WindowStats(TypedDict):
    """Statistics over the window (the other keys depend on the type: docs/api.md), and
    the per-stage latencies."""

    type: str
    count: Annotated[int, "Records in the window."]
    latency: Annotated[dict[str, StageLatency], 'Per pipeline stage (docs/api.md, "Stage latencies").']


open_shape(WindowStats)


# -- flash queries -------------------------------------------------------------------


class FlashHead(TypedDict):
    id: int
    query: str
    max_tokens: int
    n_tokens: Annotated[int, "The question's tokens, chat template applied."]


class FlashRegistered(FlashHead):
    total_flash_queries: int
    status: Literal["registered"]


class FlashQuery(FlashHead):
    has_answer: bool
    value: Annotated[str, 'The latest answer ("" before the first).']
    data_version: Annotated[int, "The data version the answer saw."]
    confidence: Annotated[float, "Mean top-1/top-2 probability gap over the answer, [0, 1]."]
    evaluated_at: Annotated[int, "Unix milliseconds (0: not yet)."]
    last_evaluated_ms: Annotated[int, "The same as evaluated_at."]


class FlashList(TypedDict):
    flash_queries: list[FlashQuery]
    queries: Annotated[list[FlashQuery], "The same list (older clients read this name)."]
    count: int
    current_data_version: int


class FlashDeleted(TypedDict):
    success: bool
    remaining: int


# -- generate -------------------------------------------------------------------------


class Generated(TypedDict):
    text: str
    n_tokens: int
    tokens_generated: Annotated[int, "Tokens generated now (0 for a cached flash answer)."]
    total_tokens: int
    pos_max: int
    from_cache: Annotated[bool, "Answered from a fresh flash query."]
    confidence: float
    flash: bool
    flash_id: int | None
    data_version: int
    logit_gap: Annotated[float, "Top-1 minus top-2 logit at the first answer token."]


# -- events: SSE data and WebSocket frames (described in the OpenAPI text) ------------------


class ConnectedEvent(TypedDict):
    type: Literal["connected"]
    data_version: int
    flash_queries: int


class FlashReadyEvent(TypedDict):
    """A flash query's first answer, or an answer that changed."""

    type: Literal["flash_ready"]
    id: int
    query: str
    value: str
    confidence: float
    data_version: int
    evaluated_at: int


class DataUpdatedEvent(TypedDict):
    """A data batch (or appended text) entered the window."""

    type: Literal["data_updated"]
    data_version: int
    data_count: int
    pos_next: int


class SessionErrorEvent(TypedDict):
    """Decoding failed on the session's data or flash queries; the session goes on."""

    type: Literal["error"]
    message: str


class GenerateToken(TypedDict):
    done: Literal[False]
    token: str
    pos: int


class GenerateDone(TypedDict):
    done: Literal[True]
    text: str
    n_tokens: int


class SocketConnected(TypedDict):
    session_id: str
    data_version: int
    streaming: Literal[True]
    flash_queries: int


class PushAck(TypedDict):
    pushed: int
    dropped: int
    queue_size: int


class SocketError(TypedDict):
    message: str
    code: Annotated[int, "The HTTP status the same mistake would get."]


# -- service ----------------------------------------------------------------------------


class Health(TypedDict):
    status: Literal["ok"]
    model: str


class Model(TypedDict):
    id: str
    object: Literal["model"]
    created: Annotated[int, "The model file's modification time, Unix seconds."]
    owned_by: str


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[Model]


class EngineStats(TypedDict):
    sessions: int
    events_dropped: int


class ServerStats(TypedDict):
    """For operators and tests; its shape may change."""

    sessions: int
    max_sessions: int
    subscribers: int
    generate_waiters: int
    events_dispatched: int
    events_unrouted: int
    events_dropped: int
    largest_backlog: int
    engine: EngineStats


# -- OpenAI-compatible chat ---------------------------------------------------------------


class ChatAnswer(TypedDict):
    role: Literal["assistant"]
    content: str


class ChatChoice(TypedDict):
    index: int
    message: ChatAnswer
    finish_reason: Annotated[Literal["stop", "length"], "length: max tokens reached; stop: otherwise."]


class ChatUsage(TypedDict):
    prompt_tokens: Annotated[int, "The question's tokens (the window is not re-read: it is cached)."]
    completion_tokens: int
    total_tokens: int


class ChatExtension(TypedDict):
    """What this server adds to OpenAI's shape."""

    session_id: str
    from_cache: Annotated[bool, "Answered from a fresh flash query."]
    confidence: float
    data_version: Annotated[int, "The data version the answer saw."]


class ChatCompletion(TypedDict):
    """OpenAI's ``chat.completion``."""

    id: Annotated[str, "chatcmpl- and 24 hex characters."]
    object: Literal["chat.completion"]
    created: Annotated[int, "Unix seconds."]
    model: Annotated[str, "The session id the answer came from."]
    choices: list[ChatChoice]
    usage: ChatUsage
    streaminfer: ChatExtension


class ChatDelta(TypedDict, total=False):
    role: Literal["assistant"]
    content: str


class ChunkChoice(TypedDict):
    index: int
    delta: ChatDelta
    finish_reason: Literal["stop", "length"] | None


class ChatCompletionChunk(TypedDict):
    """OpenAI's ``chat.completion.chunk``, one per Server-Sent Event when ``stream`` is true."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
