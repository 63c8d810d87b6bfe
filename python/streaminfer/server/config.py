"""Server settings: one frozen dataclass, filled from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20


@dataclass(frozen=True)
class ServerConfig:
    """Everything the application needs to know about its deployment."""

    model_path: str
    host: str = "127.0.0.1"
    port: int = 8080
    ctx_size: int = 2048
    threads: int = 0
    n_gpu_layers: int = 0
    # Flash attention: "auto" (where the backend supports it), "on" or "off".
    flash_attn: str = "auto"
    # The KV cache (and attention) on the GPU along with the offloaded layers.
    offload_kv: bool = True
    # Weights repacked into ggml's CPU-optimized layouts (AVX2/AVX-512 kernels, AMX tiles).
    repack: bool = True
    api_keys: tuple[str, ...] = ()
    max_sessions: int = 16
    queue_capacity: int = 4096
    # Nice increment of the engine's worker threads: the event loop preempts them.
    worker_nice: int = 10
    # A request body (and a WebSocket frame) larger than this is refused: 413 / close 1009.
    max_body_bytes: int = 16 * MiB
    max_ws_frame_bytes: int = 16 * MiB
    # Records in one push (HTTP or WebSocket), counted before any is validated: 413 past it.
    max_records_per_push: int = 10_000
    # Generations in flight (a slot from the request until its answer is read or abandoned).
    max_generates_per_session: int = 4
    max_generates: int = 32
    # An SSE stream silent this long gets a ": ping" comment line.
    sse_ping_interval_s: float = 15.0
    # Events buffered per SSE/WebSocket subscriber; a slow one loses the oldest.
    subscriber_queue_size: int = 256
    # Longest a non-streamed /generate waits for the core before answering 503, and
    # longest a streamed one stays silent before it ends with a timeout error frame.
    generate_timeout_s: float = 600.0
    # Prometheus metrics at /metrics (behind the API key when keys are set).
    metrics: bool = True
    log_level: str = "info"

    @property
    def model_id(self) -> str:
        """The model's name on the wire: the file name without its extension."""
        return Path(self.model_path).stem
