"""Type stubs for the compiled core (cpp/src/bindings.cpp).

Threading: every method that can wait on the model (loading, creating or
destroying a session, append, mark_prefix) releases the GIL. ``push`` is
non-blocking (it formats nothing; it validates and enqueues). Events from the
decode thread are read with ``Engine.poll_events`` after ``Engine.event_fd``
becomes readable (an eventfd: the asyncio loop watches it with add_reader).
"""

from __future__ import annotations

from typing import Any, Final

DATA_TYPES: Final[list[str]]
MAX_FLASH_QUERIES: Final[int]
MAX_FLASH_TOKENS: Final[int]
DEFAULT_FLASH_TOKENS: Final[int]
FLASH_ATTN_MODES: Final[list[str]]

class ModelLoadError(RuntimeError):
    """llama.cpp could not load the file (bad GGUF, unsupported architecture)."""

class RecordError(ValueError):
    """A pushed record is invalid. ``args == (message, index, field)``."""

class LimitError(RuntimeError):
    """A configured limit was reached (flash queries per session)."""

class DuplicateError(ValueError):
    """The same flash query text is already registered."""

class ContextFullError(ValueError):
    """The text does not fit in the session's context. ``args == (message, n_tokens, n_available)``."""

class EngineClosedError(RuntimeError):
    """The engine was closed, or the session was destroyed."""

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
    def metadata(self) -> dict[str, Any]:
        """architecture, description, n_params, size_bytes, n_ctx_train, n_vocab, has_chat_template."""
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
    @property
    def n_prefix_tokens(self) -> int: ...
    @property
    def created_at(self) -> int:
        """Unix milliseconds."""
    def push(self, records: list[dict[str, Any]]) -> dict[str, int]:
        """Validate every record, then enqueue them all (or none).

        Returns {pushed, dropped, queue_size, queue_capacity, total_enqueued,
        total_dropped}. Raises RecordError for the first invalid record.
        Producer side of the ring: call from one thread only (the event loop).
        """
    def append_text(self, text: str) -> dict[str, int]:
        """Decode raw text into the live context: {n_tokens_added, total_tokens, pos_max}."""
    def mark_prefix(self) -> dict[str, int]:
        """Freeze everything decoded so far as the prefix: {prefix_end, n_records_frozen}."""
    def probe(self, prompt: str, max_tokens: int = 16) -> dict[str, Any]:
        """Answer now, on the decode thread (blocks; GIL released), like a flash query
        (greedy, stops at a newline). Diagnostics for the equivalence test and benchmarks:
        {text, n_tokens, confidence, logit_gap, logits: first step's logits [n_vocab]}."""
    def register_flash(self, query: str, max_tokens: int = 32) -> dict[str, int]:
        """{id, max_tokens, n_tokens, total_flash_queries}; LimitError past 20, DuplicateError."""
    def list_flash(self) -> list[dict[str, Any]]:
        """[{id, query, max_tokens, n_tokens, has_answer, value, data_version, confidence,
        logit_gap, evaluated_at}]."""
    def delete_flash(self, query_id: int) -> bool: ...
    def cached_answer(self, prompt: str) -> dict[str, Any] | None:
        """A flash answer fresh at the current data_version whose query equals ``prompt``
        (trimmed, whitespace folded), else None. {id, value, confidence, logit_gap,
        data_version, n_tokens (the answer's)}."""
    def generate(self, prompt: str, max_tokens: int = 128, stop: list[str] | None = None) -> int:
        """Queue a generation at FLASH priority; returns a request id.

        Tokens arrive as events {type: "token", request_id, token, pos}, then
        {type: "generate_done", request_id, text, n_tokens, confidence, logit_gap,
        data_version, total_tokens, pos_max} or {type: "generate_error", request_id,
        message}. Raises ContextFullError when the prompt cannot fit.
        """
    def cancel(self, request_id: int) -> bool:
        """Stop a queued or running generation at its next step (it ends with a
        generate_error event "cancelled"); False when it already finished."""
    def data_version(self) -> int: ...
    def flash_count(self) -> int: ...
    def state(self) -> dict[str, Any]:
        """Every figure of the session: positions, window, counters, timings."""
    def stats(self) -> dict[str, Any]:
        """Per-type statistics over the records in the window (API.md /stats)."""
    def context_text(self) -> str: ...
    def slots(self) -> list[dict[str, Any]]:
        """[{name, start, end, n_tokens}] covering the live sequence."""
    def touch(self) -> None:
        """Record a use (last_used_at)."""

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
    def poll_events(self) -> list[dict[str, Any]]:
        """Take every pending event (never blocks). Each has ``type`` and ``session_id``."""
    def create_session(
        self,
        session_id: str,
        data_type: str,
        prompt: str = "",
        context_size: int = 0,
        window_size: int = 0,
        flash: list[tuple[str, int]] | None = None,
    ) -> Session:
        """Decode the session's prefix (once, for its lifetime). ValueError for a bad type or sizes."""
    def destroy_session(self, session_id: str) -> bool:
        """Free the session's KV memory; False when unknown."""
    def get_session(self, session_id: str) -> Session | None: ...
    def session_ids(self) -> list[str]: ...
    def counters(self) -> dict[str, int]:
        """Engine-wide counters: sessions, events_dropped (event queue overflow)."""
    def close(self) -> None:
        """Stop the worker threads and free every session."""

def format_record(data_type: str, record: dict[str, Any]) -> str:
    """The compact text line a record becomes in the context (validated like push)."""

def record_header(data_type: str) -> str:
    """The header line placed in the prefix that names the columns of ``data_type``."""

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
