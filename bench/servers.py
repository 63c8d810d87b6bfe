"""The two servers the benchmarks compare, each a context manager yielding its base URL
once its health route answers; run one at a time.

- ``ours``: ``streaminfer serve``.
- ``llama_server``: the peer (``bench/peer.py``).

Both are started, awaited and stopped by ``streaminfer.server.launch``; their
output goes to ``bench/out/streaminfer.log`` and ``bench/out/llama-server.log``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench import OUT_DIR
from bench.peer import llama_server_command
from streaminfer.server import launch


def ours_options(ctx: int, threads: int, queue_capacity: int = 4096, worker_nice: int = 10) -> list[str]:
    """The ``streaminfer serve`` options every measurement of our server uses."""
    return [
        *("--threads", str(threads), "--ctx-size", str(ctx)),
        *("--queue-capacity", str(queue_capacity), "--worker-nice", str(worker_nice)),
        *("--max-sessions", "32", "--log-level", "warning"),
    ]


@contextlib.contextmanager
def ours(
    model: str, ctx: int, threads: int, queue_capacity: int = 4096, worker_nice: int = 10
) -> Iterator[str]:
    port = launch.free_port()
    cmd = launch.serve_command(model, port, *ours_options(ctx, threads, queue_capacity, worker_nice))
    with launch.running(cmd, port, OUT_DIR / "streaminfer.log", "/v1/health", timeout=180.0) as server:
        yield server.base_url


@contextlib.contextmanager
def llama_server(model: str, ctx: int, threads: int, cache_reuse: int = 0) -> Iterator[str]:
    port = launch.free_port()
    cmd = llama_server_command(model, ctx, threads, port, cache_reuse)
    with launch.running(cmd, port, OUT_DIR / "llama-server.log", "/health", timeout=180.0) as server:
        yield server.base_url
