"""Run an HTTP server as a child process: start it, wait for its health route, stop it.

The test suite and the benchmarks start ``streaminfer serve`` (and the
benchmarks llama-server) through this module, so that a server is launched,
awaited and stopped the same way everywhere. The child's output goes to a
log file, which is what to read when it does not come up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

import streaminfer

HOST = "127.0.0.1"


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, health_path: str, timeout: float) -> None:
        """Until ``GET health_path`` answers 200; raises if the process exits or time runs out."""
        url = self.base_url + health_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}; log {self.log_path}:\n{self.log()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=5, trust_env=False).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{url} not healthy within {timeout:g} s; log {self.log_path}:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (both servers shut down cleanly on it), then SIGKILL after ``timeout``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def serve_command(model: str | Path, port: int, *extra: str) -> list[str]:
    """``streaminfer serve`` on loopback, with this interpreter."""
    return [
        sys.executable,
        "-m",
        "streaminfer",
        "serve",
        "--model",
        str(model),
        "--host",
        HOST,
        "--port",
        str(port),
        *extra,
    ]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child ``streaminfer``: it imports the same package as this
    process (a source checkout on ``PYTHONPATH`` included), and API keys come from its
    arguments only, never from the caller's ``STREAMINFER_API_KEYS``."""
    env = dict(os.environ)
    package_root = str(Path(streaminfer.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.pop("STREAMINFER_API_KEYS", None)
    env.update(extra or {})
    return env


def start(
    cmd: Sequence[str], port: int, log_path: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start ``cmd`` (which must listen on ``port``), its output appended to ``log_path``; returns at once."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(("\n$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        process = subprocess.Popen(
            list(cmd), stdout=log, stderr=subprocess.STDOUT, env=dict(env or child_env())
        )
    return ServerProcess(process, port, log_path)


@contextlib.contextmanager
def running(
    cmd: Sequence[str], port: int, log_path: Path, health_path: str, timeout: float = 300.0
) -> Iterator[ServerProcess]:
    """``start`` + ``wait_healthy``; stopped on exit."""
    server = start(cmd, port, log_path)
    try:
        server.wait_healthy(health_path, timeout)
        yield server
    finally:
        server.stop()
