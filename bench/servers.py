"""Start and stop the two servers the peer benchmark compares, one at a time.

- ``llama_server``: the peer, ``build/peer/bin/llama-server`` (``bench/build_peer.sh``).
- ``ours``: ``python -m streaminfer serve``.

Each is a context manager yielding the base URL once its health route answers
200; the process is stopped (SIGINT, then SIGKILL) on exit and its output kept
in ``bench/out/<name>.log``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

import benchlib


class RawHttp:
    """One keep-alive HTTP/1.1 connection through the standard library: a client far
    leaner than httpx, so that latencies measure the server rather than the client."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def post(self, path: str, body: bytes) -> dict[str, Any]:
        self.conn.request("POST", path, body, {"content-type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"POST {path}: {resp.status} {data[:200]!r}")
        return dict(json.loads(data))

    def close(self) -> None:
        self.conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout:.0f} s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@contextlib.contextmanager
def running(
    cmd: list[str], health_path: str, port: int, log_name: str, timeout: float = 180.0
) -> Iterator[str]:
    benchlib.OUT_DIR.mkdir(parents=True, exist_ok=True)
    log = benchlib.OUT_DIR / log_name
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=benchlib.ROOT)
        try:
            wait_healthy(base + health_path, proc, timeout, log)
            yield base
        finally:
            stop(proc)


def llama_server_cmd(model: str, ctx: int, threads: int, port: int, cache_reuse: int = 0) -> list[str]:
    exe = benchlib.peer_binary("llama-server")
    if exe is None:
        raise FileNotFoundError("llama-server not built: run bench/build_peer.sh")
    cmd = [
        str(exe),
        "-m",
        model,
        "-c",
        str(ctx),
        "-t",
        str(threads),
        "-tb",
        str(threads),
        "-np",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if cache_reuse:
        cmd += ["--cache-reuse", str(cache_reuse)]
    return cmd


def ours_cmd(
    model: str, ctx: int, threads: int, port: int, queue_capacity: int = 4096, worker_nice: int = 10
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streaminfer",
        "serve",
        "--model",
        model,
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--ctx-size",
        str(ctx),
        "--queue-capacity",
        str(queue_capacity),
        "--worker-nice",
        str(worker_nice),
        "--max-sessions",
        "32",
        "--log-level",
        "warning",
    ]


@contextlib.contextmanager
def llama_server(model: str, ctx: int, threads: int, cache_reuse: int = 0) -> Iterator[str]:
    port = free_port()
    with running(
        llama_server_cmd(model, ctx, threads, port, cache_reuse), "/health", port, "llama-server.log"
    ) as url:
        yield url


@contextlib.contextmanager
def ours(
    model: str, ctx: int, threads: int, queue_capacity: int = 4096, worker_nice: int = 10
) -> Iterator[str]:
    port = free_port()
    cmd = ours_cmd(model, ctx, threads, port, queue_capacity, worker_nice)
    with running(cmd, "/v1/health", port, "streaminfer.log") as url:
        yield url
