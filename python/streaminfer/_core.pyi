"""Type stubs for the compiled core (cpp/src/bindings.cpp).

Threading: every method that can wait on the model (loading, creating or
destroying a session, append, mark_prefix) releases the GIL. ``push`` is
non-blocking (it formats nothing; it checks and enqueues). Events from the
decode thread are read with ``Engine.poll_events`` after ``Engine.event_fd``
becomes readable (an eventfd: the asyncio loop watches it with add_reader).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

DATA_TYPES: Final[list[str]]
MAX_FLASH_QUERIES: Final[int]
MAX_FLASH_TOKENS: Final[int]
DEFAULT_FLASH_TOKENS: Final[int]
DEFAULT_GENERATE_TOKENS: Final[int]
MIN_CONTEXT_SIZE: Final[int]
MAX_TEXT_LENGTH: Final[int]
MAX_TIMESTAMP: Final[int]
TEXT_PUNCTUATION: Final[str]
"""A record string's characters besides ASCII letters and digits (no leading or trailing space)."""
MIN_WINDOW_RECORDS: Final[int]
"""mark_prefix is refused when the data room left would hold fewer records than this."""
MAX_WINDOW_RECORDS: Final[int]
MAX_STOP_STRINGS: Final[int]
MAX_STOP_LENGTH: Final[int]
"""Bytes of one stop string (at least 1)."""
FLASH_ATTN_MODES: Final[list[str]]
LLAMA_BUILD_ID: Final[str]
"""A hash of the llama.cpp sources that write and read sequence state: a checkpoint's
``kv_state`` loads only into a build with the same id (and the same model file)."""
LATENCY_BOUNDS_US: Final[list[int]]
"""The latency histograms' finite bucket bounds, microseconds, ascending: 10, 12, 15, 20, 25,
30, 40, 50, 60, 80 times each power of ten up to 80 s, then 100 s. Inclusive upper bounds
(Prometheus ``le``); one overflow bucket (+Inf) follows them."""

class ModelLoadError(RuntimeError):
    """llama.cpp could not load the file (bad GGUF, unsupported architecture)."""

class RecordError(ValueError):
    """A pushed record is invalid. ``args == (message, index, field)``."""

class ParamError(ValueError):
    """An argument the core refuses. ``args == (message, param, index)``: ``param`` is the
    argument's name; ``index`` places a flash query in ``create_session``'s list (else -1)."""

class DuplicateError(ParamError):
    """The same flash query text (whitespace folded) is already registered."""

class LimitError(ParamError):
    """A count limit was reached (MAX_FLASH_QUERIES per session)."""

class ContextFullError(ValueError):
    """The text does not fit in the session's context. ``args == (message, n_tokens, n_available)``."""

class SessionClosedError(RuntimeError):
    """The session was destroyed before or during the call."""

class EngineClosedError(RuntimeError):
    """The engine was closed."""

class ContextAllocError(RuntimeError):
    """llama.cpp could not allocate a session's context (out of memory)."""

class RecordField:
    """One field of a record type, from the core's table (cpp/src/record-types.cpp)."""

    name: str
    kind: str  # "float" (any finite JSON number), "int" (a JSON integer) or "str"
    required: bool
    minimum: float | None  # numbers: inclusive bounds, None when unbounded
    maximum: float | None
    max_length: int | None  # strings: bytes of UTF-8 (at least 1; no commas or control characters)
    description: str
    example: float | int | str | None

class RecordType:
    name: str
    description: str
    header: str  # the line that names the columns in the session's prefix
    fields: list[RecordField]  # in line order

def record_types() -> list[RecordType]: ...
def format_record(data_type: str, record: dict[str, Any]) -> str:
    """The compact text line a record becomes in the context (checked like push)."""

def record_header(data_type: str) -> str:
    """The header line placed in the prefix that names the columns of ``data_type``."""

class SessionCounters:
    """Monotonic counters of a session (cpp/src/session-counters.h says what each counts)."""

    total_enqueued: int
    total_dropped: int
    tokenized: int
    skipped: int
    evicted: int
    batches_processed: int
    items_processed: int
    total_process_time_us: int
    total_data_tokens: int
    tokens_decoded: int
    prefix_evals: int
    prefix_tokens: int  # decoded for the prefix at open (append and mark_prefix add none)
    flash_runs: int
    total_flash_time_us: int
    last_flash_time_us: int
    generate_requests: int  # accepted; each ends as one of the next three
    generate_completed: int  # ended with generate_done
    generate_failed: int  # ended with a generate_error other than a cancel or a close
    generate_cancelled: int  # ended by cancel() or the session's close, queued or running
    generate_cached: int  # cached_answer() calls that returned an answer

class SessionState:
    """A snapshot. KV positions: prefix [0, prefix_end), data [prefix_end, pos_next), then free."""

    data_type: str
    context_size: int
    window_size: int
    prefix_end: int
    pos_next: int
    pos_min: int  # as llama.cpp's memory reports them; -1 when empty
    pos_max: int
    data_count: int  # records in the window
    data_tokens: int
    last_inject_us: int  # Unix microseconds of the last decoded batch
    queue_size: int  # records accepted and not yet decoded or skipped
    ring_size: int  # of which still in the ring
    queue_capacity: int
    data_version: int
    running: bool
    error: bool  # a decode failed (the session goes on)
    counters: SessionCounters

class StageLatency:
    """One latency stage of a session, a snapshot (cpp/src/latency-stages.h says what
    each stage covers). Times are microseconds on a monotonic clock."""

    name: str  # push, record_wait, tokenize, decode_batch, kv_shift, flash_prefill, ...
    description: str
    counts: list[int]  # per bucket, not cumulative: len(LATENCY_BOUNDS_US) + 1, the last is overflow
    count: int  # sum(counts)
    sum_us: int
    p50_us: float  # Prometheus histogram_quantile estimates from the buckets; 0.0 when empty,
    p95_us: float  # the last finite bound when the rank falls in the overflow bucket
    p99_us: float

class PushResult:
    pushed: int
    dropped: int
    queue_size: int
    queue_capacity: int
    total_enqueued: int
    total_dropped: int

class FlashInfo:
    """A flash query and its latest answer."""

    id: int
    query: str
    max_tokens: int
    n_tokens: int  # the question's tokens, template applied
    has_answer: bool
    value: str
    answer_tokens: int
    confidence: float  # mean top-1/top-2 probability gap over the answer, [0, 1]
    logit_gap: float  # top-1 minus top-2 logit at the first answer token
    data_version: int  # the data the answer saw
    evaluated_at: int  # Unix milliseconds

class Checkpoint:
    """A session written down (``Session.checkpoint``), or to bring back
    (``Engine.create_session(restore=...)``). Entries are ``{"record": {...}}`` (a record
    in the push format) or ``{"text": "..."}`` (appended text), oldest first."""

    def __init__(
        self,
        data_type: str,
        frozen: list[dict[str, Any]],
        window: list[dict[str, Any]],
        next_seq: int,
        data_version: int,
        counters: dict[str, int],
        flash: list[tuple[int, str, int]],
        next_flash_id: int,
        kv_state: bytes = b"",
    ) -> None:
        """Records are checked as by push (RecordError); an entry that is neither a record
        nor a text is a ParamError."""
    @property
    def data_type(self) -> str: ...
    @property
    def frozen(self) -> list[dict[str, Any]]:
        """What mark_prefix froze into the prefix."""
    @property
    def window(self) -> list[dict[str, Any]]: ...
    @property
    def next_seq(self) -> int:
        """The first accepted record neither decoded nor skipped (records are numbered from 0 in
        the order push accepted them): a restore pushes the records from here on again."""
    @property
    def data_version(self) -> int: ...
    @property
    def counters(self) -> dict[str, int]:
        """SessionCounters' fields by name."""
    @property
    def flash(self) -> list[tuple[int, str, int]]:
        """(id, query, max_tokens) of each flash query."""
    @property
    def next_flash_id(self) -> int: ...
    @property
    def kv_state(self) -> bytes:
        """llama.cpp's state of the live sequence (empty unless taken with_kv)."""

class AppendResult:
    n_tokens_added: int
    pos_next: int

class PrefixMark:
    prefix_end: int
    n_records_frozen: int

class Answer:
    """A probe's answer."""

    text: str
    n_tokens: int
    confidence: float
    logit_gap: float
    logits: list[float]  # the first step's logits [n_vocab]

class Model:
    """A GGUF model loaded through llama.cpp (weights shared by every session)."""

    def __init__(self, path: str, n_threads: int = 0, n_gpu_layers: int = 0, repack: bool = True) -> None:
        """Raises FileNotFoundError, ValueError (not a GGUF file, or GPU layers without a GPU)
        or ModelLoadError. repack=False keeps the weights in the file's layout (no
        repacking for AVX2/AVX-512 kernels, no AMX tiles)."""
    @property
    def path(self) -> str: ...
    @property
    def architecture(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def n_params(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def n_ctx_train(self) -> int: ...
    @property
    def n_vocab(self) -> int: ...
    @property
    def has_chat_template(self) -> bool: ...
    def kv_bytes(self, n_ctx: int) -> int:
        """Bytes of KV cache a session context of ``n_ctx`` tokens allocates (an estimate:
        exact for full-attention models, an upper bound with sliding-window layers)."""
    def tokenize(self, text: str, add_special: bool = False, parse_special: bool = False) -> list[int]: ...
    def detokenize(self, tokens: list[int]) -> str: ...

class Session:
    """A live session. Obtain it from ``Engine.create_session``.

    Counters and state are snapshots taken under the session's lock.
    """

    @property
    def session_id(self) -> str: ...
    @property
    def data_type(self) -> str: ...
    @property
    def context_size(self) -> int: ...
    @property
    def window_size(self) -> int: ...
    def push(
        self, records: list[Any], before_accept: Callable[[int, int], object] | None = None
    ) -> PushResult:
        """Check every record, then enqueue them all (or none): RecordError names the first
        bad one. Never blocks; what the queue cannot hold is dropped (counted).
        before_accept(first_seq, count): told which records will be accepted (the first
        count, numbered from first_seq) before any is queued; if it raises, nothing is.
        Producer side of the ring: call from one thread only (the event loop).
        """
    def push_columns(
        self, count: int, columns: dict[str, Any], before_accept: Callable[[int, int], object] | None = None
    ) -> PushResult:
        """As push, for ``count`` records given as columns by field name (and "timestamp"):
        numbers as 1-D buffers of float64 (NaN: missing) or int64, read in place at any
        stride; text as a sequence of str or None. ParamError ("columns") for a column of
        an unknown name or the wrong shape or format."""
    def window(self) -> list[dict[str, Any]]:
        """The records in the window, oldest first, in the push format (never waits)."""
    def append_text(self, text: str) -> AppendResult:
        """Decode raw text into the live context."""
    def mark_prefix(self) -> PrefixMark:
        """Freeze everything decoded so far as the prefix."""
    def checkpoint(self, with_kv: bool = False) -> Checkpoint:
        """The session as it stands between two decode tasks (blocks; GIL released).
        with_kv: also llama.cpp's state of the live sequence (the KV cells in use)."""
    @property
    def restored_from_kv(self) -> bool:
        """The session was restored from a checkpoint's kv_state (not by decoding its entries)."""
    def probe(self, prompt: str, max_tokens: int = 16) -> Answer:
        """Answer now, on the decode thread (blocks; GIL released), like a flash query
        (greedy, stops at a newline). Diagnostics for the equivalence test and benchmarks."""
    def register_flash(self, query: str, max_tokens: int | None = None) -> FlashInfo:
        """max_tokens: DEFAULT_FLASH_TOKENS when None, clamped to [1, MAX_FLASH_TOKENS].
        ParamError (empty query), DuplicateError, LimitError, ContextFullError."""
    def list_flash(self) -> list[FlashInfo]: ...
    def delete_flash(self, query_id: int) -> bool: ...
    def cached_answer(self, prompt: str) -> FlashInfo | None:
        """The flash query equal to ``prompt`` (trimmed, whitespace folded) when its answer
        saw the current data_version, else None. A hit counts in ``generate_cached``."""
    def generate(self, prompt: str, max_tokens: int | None = None, stop: list[str] | None = None) -> int:
        """Queue a generation at FLASH priority; returns a request id. max_tokens:
        DEFAULT_GENERATE_TOKENS when None, clamped to [1, context_size].

        Tokens arrive as events {type: "token", request_id, token, pos}, then
        {type: "generate_done", request_id, text, n_tokens, prompt_tokens, finish_reason
        ("length" when max_tokens ended it, else "stop"), confidence, logit_gap,
        data_version, pos_next} or {type: "generate_error", request_id, message}.
        Raises ContextFullError when the prompt cannot fit.
        """
    def cancel(self, request_id: int) -> bool:
        """Stop a queued or running generation at its next step (it ends with a
        generate_error event "cancelled"); False when it already finished."""
    def data_version(self) -> int: ...
    def flash_count(self) -> int: ...
    def state(self) -> SessionState: ...
    def latency(self) -> list[StageLatency]:
        """Every latency stage, in the core's order (never waits on the decode thread)."""
    def stats(self) -> dict[str, Any]:
        """Per-type statistics over the records in the window (docs/api.md, /stats)."""
    def context_text(self) -> str: ...

class Engine:
    """One model, one decode thread, one tokenization worker, many sessions."""

    def __init__(
        self,
        model_path: str,
        n_ctx: int = 2048,
        n_threads: int = 0,
        n_batch: int = 512,
        n_gpu_layers: int = 0,
        queue_capacity: int = 4096,
        worker_nice: int = 10,
        flash_attn: str = "auto",
        offload_kv: bool = True,
        repack: bool = True,
    ) -> None:
        """worker_nice: nice increment (0-19) of the decode and tokenization threads
        and the llama.cpp threads they start, so the event loop gets a core at once.
        flash_attn: one of FLASH_ATTN_MODES ("auto": where the backend supports it).
        offload_kv: the KV cache on the GPU with the offloaded layers.
        repack: as for Model."""
    @property
    def model(self) -> Model: ...
    @property
    def n_ctx(self) -> int: ...
    @property
    def n_threads(self) -> int: ...
    @property
    def event_fd(self) -> int:
        """Readable while events are pending."""
    @property
    def events_dropped(self) -> int:
        """Events lost to the event queue's overflow."""
    def poll_events(self) -> list[dict[str, Any]]:
        """Take every pending event (never blocks). Each has ``type`` and ``session_id``."""
    def create_session(
        self,
        session_id: str,
        data_type: str,
        prompt: str = "",
        context_size: int = 0,
        window_size: int = 0,
        flash: list[tuple[str, int | None]] | None = None,
        restore: Checkpoint | None = None,
    ) -> Session:
        """Decode the session's prefix (once, for its lifetime). context_size 0: the engine's.
        ParamError for a bad type or size (and the flash queries' errors, with their index).

        restore: bring a checkpoint back (its flash queries with their ids, its counters, its
        entries) instead of an empty window. Its ``kv_state`` is used when it loads and matches
        the entries; else the entries are decoded again. What no longer fits slides out, oldest
        first. The records from ``next_seq`` on are the caller's to push again."""
    def destroy_session(self, session_id: str) -> bool:
        """Free the session's KV memory; False when unknown."""
    def get_session(self, session_id: str) -> Session | None: ...
    def session_ids(self) -> list[str]: ...
    def close(self) -> None:
        """Stop the worker threads and free every session."""

class GpuInfo:
    """A GPU that ggml sees."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def memory_free(self) -> int: ...
    @property
    def memory_total(self) -> int: ...

class SystemInfo:
    """The build and what it runs on (cpp/src/backends.h)."""

    @property
    def build(self) -> str:
        """ "native" (ggml compiled for the build machine) or "portable" (CPU variants chosen at run time)."""
    @property
    def cuda_built(self) -> bool: ...
    @property
    def cuda_loaded(self) -> bool:
        """The CUDA backend registered: its runtime libraries were found."""
    @property
    def cpu_variant(self) -> str:
        """ "native", or the portable build's variant in use, e.g. "haswell"."""
    @property
    def cpu_backend_path(self) -> str: ...
    @property
    def cpu_features(self) -> list[str]:
        """What the CPU backend in use was compiled for, in ggml's names ("AVX2", "AVX512", ...)."""
    @property
    def amx(self) -> bool:
        """AMX kernels compiled in (-DSTREAMINFER_AMX=ON) and granted by the OS: weights go to AMX tiles."""
    @property
    def gpus(self) -> list[GpuInfo]: ...
    @property
    def llama_info(self) -> str:
        """llama.cpp's own system-info line."""

def system_info() -> SystemInfo:
    """Loads the backends on first use. RuntimeError when no CPU backend can be loaded."""
