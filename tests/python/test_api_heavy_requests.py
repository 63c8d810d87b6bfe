"""Large requests are bounded before the heavy work, and the event loop keeps answering meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import RunningServer, assert_error, records, serving, session
from polling import WAIT_S

from streaminfer.server.schemas import MAX_TEXT_BYTES

HEALTH_BOUND_S = 1.0  # generous: a health check answers in milliseconds
MAX_RECORDS = 50
BIG_BODY = str(32 << 20)


@pytest.fixture(scope="module")
def big_body_server(model_path: Path) -> Iterator[RunningServer]:
    """A 32 MiB body limit, so that only the server's own bounds stand in the way."""
    limits = ("--max-body-size", BIG_BODY, "--max-records-per-push", str(MAX_RECORDS))
    with serving(model_path, *limits) as server:
        yield server


def _health_times(server: RunningServer, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=WAIT_S) as health:
        while not stop.is_set():
            started = time.monotonic()
            assert health.get("/v1/health").status_code == 200
            out.append(time.monotonic() - started)
            time.sleep(0.02)


@pytest.mark.parametrize("size", [MAX_TEXT_BYTES, 24 << 20])
def test_health_stays_fast_while_a_maximal_prompt_is_handled(
    big_body_server: RunningServer, size: int
) -> None:
    """The largest prompt the server takes, then one the body limit allows but the text bound refuses."""
    with big_body_server.client() as client, session(client, "ohlcv") as sid:
        prompt = ("How did the close move? " * (size // 24 + 1))[:size]
        times: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_health_times, args=(big_body_server, stop, times))
        watcher.start()
        try:
            time.sleep(0.2)
            body = {"prompt": prompt, "max_tokens": 1}
            response = client.post(f"/v1/sessions/{sid}/generate", json=body)
            time.sleep(0.2)
        finally:
            stop.set()
            watcher.join()
        if size > MAX_TEXT_BYTES:
            error = assert_error(response, 422, "prompt")
            assert error["code"] == "text_too_long"
        else:
            assert_error(response, 400, "prompt")  # tokenized, then too long for the context
        assert times and max(times) < HEALTH_BOUND_S, max(times)


def test_flash_query_and_appended_text_are_bounded(big_body_server: RunningServer) -> None:
    with big_body_server.client() as client, session(client, "ohlcv") as sid:
        long_text = "x" * (MAX_TEXT_BYTES + 1)
        flash = client.post(f"/v1/sessions/{sid}/flash", json={"query": long_text})
        assert assert_error(flash, 422, "query")["code"] == "text_too_long"
        appended = client.post(f"/v1/sessions/{sid}/append", json={"text": long_text})
        assert assert_error(appended, 422, "text")["code"] == "text_too_long"
        init = client.post("/v1/sessions/init", json={"type": "ohlcv", "flash": ["ok?", long_text]})
        assert assert_error(init, 422, "flash[1]")["code"] == "text_too_long"


def test_records_per_push_are_counted_before_validation(big_body_server: RunningServer) -> None:
    with big_body_server.client() as client, session(client, "ohlcv") as sid:
        path = f"/v1/sessions/{sid}/stream/push"
        # Over the count, and every record invalid: the count is what the client hears about.
        too_many = client.post(path, json={"data": [{"o": "bad"}] * (MAX_RECORDS + 1)})
        assert assert_error(too_many, 413, "data")["code"] == "too_many_records"
        at_limit = client.post(path, json={"data": records("ohlcv", MAX_RECORDS)})
        assert at_limit.status_code == 200 and at_limit.json()["pushed"] == MAX_RECORDS
