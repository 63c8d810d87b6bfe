"""Server settings: one frozen dataclass, filled from the command line."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1 << 20

# The Host names a loopback-bound server answers to by default (any port).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def total_ram_bytes() -> int:
    """The machine's physical memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_max_kv_bytes() -> int:
    """Half the machine's RAM: the weights, the compute buffers and the OS need the rest."""
    return total_ram_bytes() // 2


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind_host: str) -> tuple[str, ...]:
    """Loopback names when bound to a loopback address (DNS rebinding reaches nothing else);
    any host otherwise, since the names a public server is reached by are not known here."""
    return LOOPBACK_HOSTS if is_loopback(bind_host) else ("*",)


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
    # Host header names answered (any port); None: default_allowed_hosts(host). "*": any.
    allowed_hosts: tuple[str, ...] | None = None
    # Origins allowed to call the API from a browser; None: no Origin, or one on an
    # allowed host (on the request's own host when every host is allowed). "*": any.
    allowed_origins: tuple[str, ...] | None = None
    # A session idle this long (no request, no SSE/WebSocket subscriber) is deleted; 0: never.
    session_ttl_s: float = 3600.0
    # Bytes of KV cache all sessions together may hold (Model.kv_bytes); 0: no budget.
    max_kv_bytes: int = field(default_factory=default_max_kv_bytes)
    # Durable sessions (durable.py): None keeps sessions in memory only.
    state_dir: str | None = None
    # When a logged push reaches the disk: "always" (before the ack), "batch" (at most
    # record_log.BATCH_FSYNC_DELAY_S after it) or "never" (when the OS writes it back).
    fsync: str = "batch"
    # Prometheus metrics at /metrics (behind the API key when keys are set).
    metrics: bool = True
    log_level: str = "info"

    @property
    def hosts(self) -> tuple[str, ...]:
        return default_allowed_hosts(self.host) if self.allowed_hosts is None else self.allowed_hosts

    @property
    def model_id(self) -> str:
        """The model's name on the wire: the file name without its extension."""
        return Path(self.model_path).stem
