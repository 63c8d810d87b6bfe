"""Faults against real server processes: clients that go away mid-generate, a session
deleted under a generate and a flash run, SIGTERM with live streams, and a model file
that is missing or corrupt at start.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import RunningServer, records, serve_args, serving, session, sse_events
from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from streaminfer.server import launch

LONG_ANSWER = 400  # tokens: far longer than any wait below, on these 2 cores


@pytest.fixture(scope="module")
def server(model_path: Path) -> Iterator[RunningServer]:
    with serving(model_path, "--max-sessions", "6") as running:
        yield running


def cancelled(client: httpx.Client, session_id: str) -> float:
    """The session's generate requests that ended cancelled, from /metrics."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("session") == session_id and labels.get("outcome") == "cancelled":
                return float(sample.value)
    return 0.0


def decoded(client: httpx.Client, session_id: str) -> int:
    return int(client.get(f"/v1/sessions/{session_id}/stream/status").json()["statistics"]["items_processed"])


def test_a_streamed_generate_whose_client_left_frees_the_decode_thread(server: RunningServer) -> None:
    with server.client() as client, session(client) as busy, session(client) as other:
        with client.stream(
            "POST",
            f"/v1/sessions/{busy}/generate",
            json={"prompt": "Write a long story.", "max_tokens": LONG_ANSWER, "stream": True},
        ) as response:
            lines = response.iter_lines()
            next(line for line in lines if line.startswith("data:"))  # decoding has begun
        # the client is gone: the rest of the answer is cancelled, so the other session's
        # records are decoded next, not after hundreds of generated tokens
        wait_for(lambda: cancelled(client, busy) >= 1, what="the generate's cancellation")
        client.post(f"/v1/sessions/{other}/stream/push", json={"data": records("ohlcv", 2)})
        wait_for(lambda: decoded(client, other) == 2, what="the other session's records decoded")


def test_deleting_a_session_ends_its_streamed_generate_with_an_error(server: RunningServer) -> None:
    with server.client() as client:
        sid = str(client.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"])
        body = {"prompt": "Write a long story.", "max_tokens": LONG_ANSWER, "stream": True}
        with client.stream("POST", f"/v1/sessions/{sid}/generate", json=body) as response:
            frames = sse_events(response.iter_lines())
            first = next(f for f in frames if f[1] is not None)
            assert first[1] is not None and first[1]["done"] is False
            assert client.delete(f"/v1/sessions/{sid}").status_code == 200
            rest = [f for f in frames if f[1] is not None]
        assert rest and rest[-1][0] == "error", rest[-3:]
        assert client.get(f"/v1/sessions/{sid}/state").status_code == 404
        assert client.get("/v1/health").status_code == 200


def test_deleting_a_session_during_a_flash_run_and_a_plain_generate(server: RunningServer) -> None:
    with server.client() as client:
        init = {"type": "ohlcv", "flash": [{"query": "Describe every candle.", "max_tokens": 200}]}
        sid = str(client.post("/v1/sessions/init", json=init).json()["session_id"])
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 3)})
        outcome: dict[str, int] = {}

        def plain_generate() -> None:
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=120) as other:
                body = {"prompt": "Write a long story.", "max_tokens": LONG_ANSWER}
                outcome["status"] = other.post(f"/v1/sessions/{sid}/generate", json=body).status_code

        waiting = threading.Thread(target=plain_generate)
        waiting.start()
        wait_for(lambda: decoded(client, sid) == 3, what="the batch that starts the flash run")
        assert client.delete(f"/v1/sessions/{sid}").status_code == 200
        waiting.join(60)
        assert not waiting.is_alive()
        assert outcome["status"] in (404, 503), outcome  # gone, or failed: never a 500, never a hang
        assert client.get("/v1/health").status_code == 200
        with session(client) as fresh:  # the engine still decodes
            client.post(f"/v1/sessions/{fresh}/stream/push", json={"data": records("ohlcv", 1)})
            wait_for(lambda: decoded(client, fresh) == 1, what="a new session's record decoded")


def test_sigterm_with_live_streams_exits_within_5_s(model_path: Path) -> None:
    with serving(model_path) as live, live.client() as client:
        sid = str(client.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"])
        with (
            httpx.Client(base_url=live.base_url, trust_env=False, timeout=30) as events,
            connect(f"{live.ws_base}/v1/sessions/{sid}/ws") as socket,
        ):
            sse = events.send(events.build_request("GET", f"/v1/sessions/{sid}/events"), stream=True)
            assert next(sse.iter_lines()).startswith("event: connected")
            assert json.loads(socket.recv(timeout=30))["type"] == "connected"
            body = {"prompt": "Write a long story.", "max_tokens": LONG_ANSWER, "stream": True}
            request = events.build_request("POST", f"/v1/sessions/{sid}/generate", json=body)
            generating = events.send(request, stream=True)
            assert next(line for line in generating.iter_lines() if line.startswith("data:"))
            started = time.monotonic()
            live.process.send_signal(signal.SIGTERM)
            live.process.wait(timeout=30)
            took = time.monotonic() - started
        assert took < 5.0, f"exited after {took:.1f} s"


@pytest.mark.parametrize("kind", ["missing", "not_gguf", "truncated"])
def test_a_bad_model_file_fails_the_start_with_a_clear_message(
    kind: str, model_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.gguf"
    if kind == "not_gguf":
        path.write_bytes(b"this is not a model\n" * 100)
    elif kind == "truncated":  # the real header, then the file ends
        with model_path.open("rb") as src:
            path.write_bytes(src.read(1 << 20))
    port = launch.free_port()
    done = subprocess.run(
        serve_args(path, port), env=launch.child_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("streaminfer: error:"), done.stderr
    assert str(path) in message or "model.gguf" in message, message
    assert "Traceback" not in done.stderr
