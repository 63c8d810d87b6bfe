"""Service routes and the ``streaminfer serve`` process: health, models, startup, bad models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from api_server import CTX_SIZE, THREADS, assert_error, checked_client, serve_args, serving, sse_events
from openapi_check import check_response
from polling import wait_for

from streaminfer import _core
from streaminfer.server.launch import child_env, free_port


def test_health_and_models(client: httpx.Client, model_path: Path) -> None:
    health = client.get("/v1/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model": model_path.stem}
    models = client.get("/v1/models").json()
    assert models == {
        "object": "list",
        "data": [
            {
                "id": model_path.stem,
                "object": "model",
                "created": int(model_path.stat().st_mtime),
                "owned_by": "streaminfer",
            }
        ],
    }


def test_unknown_routes_and_methods_use_the_error_shape(client: httpx.Client) -> None:
    assert assert_error(client.get("/v1/nowhere"), 404)["type"] == "not_found_error"
    assert_error(client.get("/"), 404)
    assert_error(client.put("/v1/health"), 405)
    assert_error(client.delete("/v1/sessions"), 405)
    assert_error(client.get("/v1/sessions/sess_000000000000000000000000/generate"), 405)


def test_internal_stats(client: httpx.Client) -> None:
    stats = client.get("/v1/internal/stats").json()
    for key in ("sessions", "max_sessions", "subscribers", "generate_waiters", "events_dispatched"):
        assert isinstance(stats[key], int)
    assert isinstance(stats["engine"], dict)


def test_startup_loads_then_reports_ready(model_path: Path) -> None:
    """While the model loads, health is 503 in the error shape (or the port is not open yet)."""
    seen: set[int] = set()
    with serving(model_path, ready=False) as server:

        def healthy() -> bool:
            assert server.process.poll() is None, server.log()
            try:
                response = httpx.get(f"{server.base_url}/v1/health", timeout=5, trust_env=False)
            except httpx.TransportError:
                return False
            seen.add(response.status_code)
            check_response(response)
            if response.status_code == 503:
                assert_error(response, 503)
            return response.status_code == 200

        wait_for(healthy, 300, "the health route to answer 200", interval=0.02)
        assert 200 in seen and seen <= {200, 503}, seen
        log = server.log()
        # The server's own line, whole: the log starts with the command, which names the options too.
        assert f"loading model {model_path} (ctx {CTX_SIZE}, threads {THREADS})" in log
        assert f"listening on http://127.0.0.1:{server.port}" in log

        # SIGTERM with an SSE stream open: the stream ends cleanly and the process exits.
        with checked_client(server.base_url, timeout=60) as client:
            sid = client.post("/v1/sessions/init", json={"type": "iot"}).json()["session_id"]
            with client.stream("GET", f"/v1/sessions/{sid}/events") as response:
                frames = sse_events(response.iter_lines())
                assert next(frames)[0] == "connected"
                server.process.send_signal(signal.SIGTERM)
                assert [raw for _, _, raw in frames if raw != ": ping"] == []  # no error frame: the end
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM), server.log()
        assert "Traceback" not in server.log(), server.log()


def test_unknown_model_exits_with_a_message() -> None:
    result = subprocess.run(
        serve_args("/nonexistent/model.gguf", free_port()),
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 2
    assert "streaminfer: error:" in result.stderr and "/nonexistent/model.gguf" in result.stderr


def test_a_file_that_is_not_a_model_exits_non_zero() -> None:
    fd, name = tempfile.mkstemp(suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"not a gguf file" * 100)
        result = subprocess.run(
            serve_args(name, free_port()), capture_output=True, text=True, timeout=120, env=child_env()
        )
        assert result.returncode != 0
        assert "engine failed to start" in result.stderr
    finally:
        os.unlink(name)


def test_python_dash_m_and_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streaminfer", "serve", "--help"],
        capture_output=True,
        text=True,
        env=child_env(),
    )
    assert result.returncode == 0
    for flag in (
        *("--model", "--host", "--port", "--ctx-size", "--threads", "--api-key", "--max-sessions"),
        *("--queue-capacity", "--log-level", "--gpu-layers", "--worker-nice", "--max-body-size"),
        *("--flash-attn", "--no-kv-offload", "--no-repack"),
    ):
        assert flag in result.stdout


def run_serve(model_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``streaminfer serve`` with options that should stop it before it listens."""
    return subprocess.run(
        serve_args(model_path, free_port(), *options),
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )


def test_options_the_core_refuses_stop_the_server_with_its_reason(model_path: Path) -> None:
    """The engine checks its own options, before it loads the model: the CLI repeats no rule."""
    for flag, value, message in (
        ("--worker-nice", "20", "worker_nice must be in [0, 19]"),
        ("--worker-nice", "-1", "worker_nice must be in [0, 19]"),
        ("--queue-capacity", "0", "queue_capacity must be at least 1"),
        ("--flash-attn", "fast", "flash_attn must be one of auto, on, off, not 'fast'"),
        ("--ctx-size", "100", f"the context size must be at least {_core.MIN_CONTEXT_SIZE} tokens (got 100)"),
    ):
        result = run_serve(model_path, flag, value)
        assert result.returncode == 2, result.stderr
        assert f"the engine failed to start: {message}" in result.stderr


def test_an_empty_api_key_is_refused(model_path: Path) -> None:
    result = run_serve(model_path, "--api-key", "")
    assert result.returncode == 2
    assert "API key must not be empty" in result.stderr


def test_gpu_layers_without_a_gpu_stop_the_server_with_a_reason(model_path: Path) -> None:
    if _core.system_info().gpus:
        pytest.skip("runs where no GPU is visible (this machine has one)")
    result = run_serve(model_path, "--gpu-layers", "99")
    assert result.returncode == 2, result.stderr
    assert "the engine failed to start: n_gpu_layers = 99 but no GPU is available" in result.stderr
