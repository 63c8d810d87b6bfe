"""A real ``streaminfer serve`` for the API tests, and the helpers they share.

The servers run through ``streaminfer.server.launch`` (the benchmarks' way
too) with the real default model, a small context and 2 threads, so every
test stays quick. The fixtures that hold them (``api_server``,
``auth_server``, ``client``, ``session_id``) are in conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from openapi_check import check_response
from polling import WAIT_S, wait_for

from streaminfer.server import launch

CTX_SIZE = 1024
THREADS = 2
MAX_BODY_BYTES = 1 << 20
SSE_PING_INTERVAL_S = 0.5
STARTUP_TIMEOUT_S = 300.0
API_KEYS = ("key-one-" + secrets.token_hex(8), "key-two-" + secrets.token_hex(8))
AUTH_MAX_SESSIONS = 2
HEALTH_PATH = "/v1/health"
# The base URL of in-process test clients: a Host the app answers (see --allowed-hosts).
LOOPBACK = f"http://{launch.HOST}"
# The header of a raw JSON body (httpx writes it only for json=).
JSON = {"content-type": "application/json"}


@dataclass
class RunningServer(launch.ServerProcess):
    """A server child with the key its requests carry (None: the server has no auth)."""

    api_key: str | None = None

    @property
    def ws_base(self) -> str:
        return f"ws://{launch.HOST}:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("headers", self.headers())
        return checked_client(self.base_url, **kwargs)


def checked_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """A client whose every response is checked against the server's OpenAPI document."""
    kwargs.setdefault("timeout", WAIT_S)
    return httpx.Client(
        base_url=base_url, trust_env=False, event_hooks={"response": [check_response]}, **kwargs
    )


def serve_args(model_path: Path | str, port: int, *extra: str) -> list[str]:
    """``streaminfer serve`` with the tests' small context, 2 threads and quiet logging."""
    small = ("--ctx-size", str(CTX_SIZE), "--threads", str(THREADS), "--log-level", "warning")
    return launch.serve_command(model_path, port, *small, *extra)


# Sets RLIMIT_FSIZE to argv[1], then becomes argv[2:] (the same pid).
LIMIT_FILE_SIZE = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (n, resource.RLIM_INFINITY)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


@contextlib.contextmanager
def serving(
    model_path: Path | str,
    *extra: str,
    api_key: str | None = None,
    ready: bool = True,
    file_size_limit: int | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """A server with ``extra`` options, stopped on exit. Its output goes to a temporary log,
    deleted on exit. With ``ready=False`` it is yielded at once, while the model loads.
    ``file_size_limit``: its RLIMIT_FSIZE, so that a write past it fails as on a full disk
    (EFBIG; Python ignores SIGXFSZ); ``resource.prlimit`` on its pid lifts it. ``port``: a
    port to listen on (a restart on the same one); a free one by default."""
    fd, log_name = tempfile.mkstemp(prefix="streaminfer-serve-", suffix=".log")
    os.close(fd)
    log_path = Path(log_name)
    try:
        port = port or launch.free_port()
        cmd = serve_args(model_path, port, *extra)
        if file_size_limit is not None:
            cmd = [sys.executable, "-c", LIMIT_FILE_SIZE, str(file_size_limit), *cmd]
        child = launch.start(cmd, port, log_path)
        server = RunningServer(child.process, child.port, child.log_path, api_key)
        try:
            if ready:
                server.wait_healthy(HEALTH_PATH, STARTUP_TIMEOUT_S)
            yield server
        finally:
            server.stop()
    finally:
        log_path.unlink(missing_ok=True)


# -- records, sessions and responses ---------------------------------------

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


def wait_answered(client: httpx.Client, session_id: str, query: str) -> dict[str, Any]:
    """The flash query's entry once it is answered at the session's current data version."""

    def answered() -> dict[str, Any] | None:
        listing = client.get(f"/v1/sessions/{session_id}/flash").json()
        for item in listing["flash_queries"]:
            fresh = item["data_version"] == listing["current_data_version"]
            if item["query"] == query and item["has_answer"] and fresh:
                return dict(item)
        return None

    return wait_for(answered, what=f"an answer to {query!r}")


def subscribers(client: httpx.Client) -> int:
    """How many SSE and WebSocket subscribers the server holds, all sessions together."""
    return int(client.get("/v1/internal/stats").json()["subscribers"])


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
