"""Fixtures and helpers for the API tests: a real ``streaminfer serve`` in a subprocess.

Test modules import the fixtures they use under their ``*_fixture`` names
(``from api_server import api_server_fixture, client_fixture  # noqa: F401``;
pytest knows them as ``api_server``, ``client``...), including the ones
those depend on. The servers are session-scoped (one model load each):

- ``api_server``: no auth, 1 MiB body / WebSocket frame limit, SSE ping every 0.5 s;
- ``auth_server``: two API keys and at most 2 sessions.

They run the real default model (the ``model_path`` fixture of conftest.py)
with a small context on 2 threads, so every test stays quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import streaminfer

CTX_SIZE = 1024
THREADS = 2
MAX_BODY_BYTES = 1 << 20
SSE_PING_INTERVAL_S = 0.5
STARTUP_TIMEOUT_S = 300.0
WAIT_S = 90.0  # the longest any test waits for the model (an event, an evaluation)
API_KEYS = ("key-one-" + secrets.token_hex(8), "key-two-" + secrets.token_hex(8))
AUTH_MAX_SESSIONS = 2

T = TypeVar("T")


@dataclass
class RunningServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None
    args: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", WAIT_S)
        return httpx.Client(base_url=self.base_url, headers=self.headers(), trust_env=False, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    """The subprocess imports the same ``streaminfer`` as this process."""
    env = dict(os.environ)
    package_root = str(Path(streaminfer.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.pop("STREAMINFER_API_KEYS", None)
    return env


def serve_command(model_path: Path | str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streaminfer",
        "serve",
        "--model",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ctx-size",
        str(CTX_SIZE),
        "--threads",
        str(THREADS),
        "--log-level",
        "warning",
        *extra,
    ]


def launch(model_path: Path | str, *extra: str, api_key: str | None = None) -> RunningServer:
    """Start a server; returns at once (``wait_ready`` waits for the model)."""
    port = free_port()
    fd, log_name = tempfile.mkstemp(prefix="streaminfer-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            serve_command(model_path, port, *extra), stdout=log, stderr=subprocess.STDOUT, env=server_env()
        )
    return RunningServer(port, process, Path(log_name), api_key, list(extra))


def wait_ready(server: RunningServer, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/v1/health", timeout=5, trust_env=False).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {timeout:g} s:\n{server.log()}")


def stop(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    with contextlib.suppress(OSError):
        server.log_path.unlink()


@contextlib.contextmanager
def running(model_path: Path | str, *extra: str, api_key: str | None = None) -> Iterator[RunningServer]:
    server = launch(model_path, *extra, api_key=api_key)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="session", name="api_server")
def api_server_fixture(model_path: Path) -> Iterator[RunningServer]:
    with running(
        model_path,
        "--max-body-size",
        str(MAX_BODY_BYTES),
        "--sse-ping-interval",
        str(SSE_PING_INTERVAL_S),
        "--max-sessions",
        "12",
    ) as server:
        yield server


@pytest.fixture(scope="session", name="auth_server")
def auth_server_fixture(model_path: Path) -> Iterator[RunningServer]:
    with running(
        model_path,
        "--api-key",
        *API_KEYS,
        "--max-sessions",
        str(AUTH_MAX_SESSIONS),
        api_key=API_KEYS[0],
    ) as server:
        yield server


@pytest.fixture(name="client")
def client_fixture(api_server: RunningServer) -> Iterator[httpx.Client]:
    with api_server.client() as c:
        yield c


@pytest.fixture(name="session_id")
def session_id_fixture(client: httpx.Client) -> Iterator[str]:
    """A fresh ohlcv session, deleted afterwards."""
    with session(client, "ohlcv") as sid:
        yield sid


# -- helpers ---------------------------------------------------------------

RECORD_EXAMPLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "ohlcv": lambda i: {
        "o": 100.0 + i,
        "h": 101.5 + i,
        "l": 99.25 + i,
        "c": 100.75 + i,
        "v": 1200 + 10 * i,
        "sym": "BTC",
        "timestamp": 1_700_000_000 + 60 * i,
    },
    "iot": lambda i: {"sid": f"t{i % 3}", "val": 20.5 + i, "lo": 18, "hi": 25.0},
    "spatial": lambda i: {"x": 1.0 * i, "y": 2.0 * i, "z": 0, "spd": 3.5, "hdg": (45 * i) % 360},
    "event": lambda i: {"src": f"fw{i % 2}", "sev": i % 5, "cat": "auth" if i % 2 else "net", "cnt": i},
    "vitals": lambda i: {"hr": 70 + 20 * i, "bp_s": 120, "bp_d": 80, "spo2": 98 - i, "temp": 36.8 + 0.5 * i},
}


def records(data_type: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    return [RECORD_EXAMPLES[data_type](i) for i in range(start, start + n)]


def create_session(client: httpx.Client, data_type: str = "ohlcv", **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sessions/init", json={"type": data_type, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@contextlib.contextmanager
def session(client: httpx.Client, data_type: str = "ohlcv", **body: Any) -> Iterator[str]:
    session_id = str(create_session(client, data_type, **body)["session_id"])
    try:
        yield session_id
    finally:
        client.delete(f"/v1/sessions/{session_id}")


def wait_for(predicate: Callable[[], T | None], timeout: float = WAIT_S, interval: float = 0.1) -> T:
    """Poll until ``predicate`` returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        time.sleep(interval)


def wait_answered(client: httpx.Client, session_id: str, query: str) -> dict[str, Any]:
    """The flash query's entry once it is answered at the session's current data version."""

    def answered() -> dict[str, Any] | None:
        listing = client.get(f"/v1/sessions/{session_id}/flash").json()
        for item in listing["flash_queries"]:
            fresh = item["data_version"] == listing["current_data_version"]
            if item["query"] == query and item["has_answer"] and fresh:
                return dict(item)
        return None

    return wait_for(answered)


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with the error shape of docs/api.md; returns the ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "code", "param"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["code"] is None or type(error["code"]) in (str, int)
    assert error["param"] is None or isinstance(error["param"], str)
    if param is not None:
        assert error["param"] == param, error
    return error


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, dict[str, Any] | None, str]]:
    """(event, data, raw) per SSE frame of a line iterator; comments come as (None, None, ": ping")."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data)), "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            yield None, None, line
        elif line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
