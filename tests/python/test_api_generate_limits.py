"""Generations in flight: bounded per session and per server, cancelled when their client
leaves, and unable to starve another session's ingest."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import RunningServer, assert_error, records, serving, session
from polling import WAIT_S, wait_for
from prometheus_client.parser import text_string_to_metric_families

# A question the model answers at length (counting runs to max_tokens; a story may end
# early), so that a generation is still running when the test acts on it.
LONG_QUESTION = "List the numbers from 1 to 300, separated by commas: 1, 2, 3, 4, 5,"
GENERATE_REQUESTS = "streaminfer_generate_requests_total"


@pytest.fixture(scope="module")
def limited_server(model_path: Path) -> Iterator[RunningServer]:
    """One generation in flight per session, two in all."""
    with serving(model_path, "--max-generates-per-session", "1", "--max-generates", "2") as server:
        yield server


def outcomes(client: httpx.Client, session_id: str) -> dict[str, float]:
    """The session's generate requests by outcome, from /metrics."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == GENERATE_REQUESTS and sample.labels["session"] == session_id:
                found[sample.labels["outcome"]] = sample.value
    return found


def open_stream(client: httpx.Client, session_id: str, prompt: str) -> httpx.Response:
    """A streamed generate, its headers read (the generation holds its slot from here)."""
    body = {"prompt": prompt, "max_tokens": 256, "stream": True}
    request = client.build_request("POST", f"/v1/sessions/{session_id}/generate", json=body)
    response = client.send(request, stream=True)
    assert response.status_code == 200
    return response


def test_generates_in_flight_are_bounded_per_session_and_server(limited_server: RunningServer) -> None:
    with (
        limited_server.client() as client,
        session(client) as a,
        session(client) as b,
        session(client) as c,
    ):
        first = open_stream(client, a, LONG_QUESTION)
        try:
            again = client.post(f"/v1/sessions/{a}/generate", json={"prompt": "And now?", "max_tokens": 4})
            error = assert_error(again, 429)
            assert error["code"] == "max_generates" and "--max-generates-per-session 1" in error["message"]
            assert again.headers["retry-after"] == "1"
            second = open_stream(client, b, LONG_QUESTION)
            try:
                full = client.post(f"/v1/sessions/{c}/generate", json={"prompt": "Here?", "max_tokens": 4})
                error = assert_error(full, 429)
                assert error["code"] == "max_generates" and "--max-generates 2" in error["message"]
            finally:
                second.close()
        finally:
            first.close()
        # Closing a stream frees its slot: the session can ask again.
        answered = wait_for(
            lambda: (
                (
                    response := client.post(
                        f"/v1/sessions/{a}/generate", json={"prompt": "Hi?", "max_tokens": 2}
                    )
                ).status_code
                == 200
                and response
            ),
            what="a slot freed by the closed stream",
        )
        assert answered.json()["n_tokens"] >= 1


@pytest.mark.parametrize("route", ["generate", "chat"])
def test_a_client_gone_cancels_its_generation(limited_server: RunningServer, route: str) -> None:
    with limited_server.client() as client, session(client) as sid:
        if route == "generate":
            url, body = f"/v1/sessions/{sid}/generate", {"prompt": LONG_QUESTION, "max_tokens": 256}
        else:
            url = "/v1/chat/completions"
            body = {"model": sid, "messages": [{"role": "user", "content": LONG_QUESTION}], "max_tokens": 256}
        # A client of its own that gives up, then closes: a timed-out connection may stay
        # in a pool, open, and the server rightly goes on answering on it.
        impatient = httpx.Client(base_url=limited_server.base_url, trust_env=False, timeout=0.3)
        with impatient, pytest.raises(httpx.ReadTimeout):
            impatient.post(url, json=body)
        ended = wait_for(
            lambda: (o := outcomes(client, sid)).get("cancelled", 0) + o.get("completed", 0) > 0 and o,
            what="the abandoned generation to end",
        )
        assert ended["cancelled"] == 1 and ended["completed"] == 0, ended
        # Its slot is free again (one per session on this server).
        again = client.post(f"/v1/sessions/{sid}/generate", json={"prompt": "Hi?", "max_tokens": 2})
        assert again.status_code == 200, again.text


def test_a_generate_flood_does_not_starve_another_sessions_ingest(api_server: RunningServer) -> None:
    """While one session keeps its generations queued back to back, another session's
    pushes are decoded between them: at most a couple of the flood's answers finish
    between a push and its data_updated event."""
    stop = threading.Event()
    finished: list[float] = []  # monotonic times the flood's answers came back
    lock = threading.Lock()

    def flood(session_id: str) -> None:
        with api_server.client() as client:
            while not stop.is_set():
                response = client.post(
                    f"/v1/sessions/{session_id}/generate", json={"prompt": LONG_QUESTION, "max_tokens": 24}
                )
                if response.status_code == 200:
                    with lock:
                        finished.append(time.monotonic())

    with (
        api_server.client() as client,
        session(client) as flooded,
        session(client, "iot") as streamed,
        client.stream("GET", f"/v1/sessions/{streamed}/events", timeout=WAIT_S) as events,
    ):
        lines = events.iter_lines()
        assert next(lines).startswith("event: connected")
        floods = [threading.Thread(target=flood, args=(flooded,)) for _ in range(4)]
        for thread in floods:
            thread.start()
        try:
            wait_for(lambda: len(finished) >= 4, what="the flood to be under way")
            between: list[int] = []
            for i in range(4):
                pushed_at = time.monotonic()
                batch = {"data": records("iot", 2, 2 * i)}
                ack = client.post(f"/v1/sessions/{streamed}/stream/push", json=batch)
                assert ack.status_code == 200 and ack.json()["pushed"] == 2
                for line in lines:
                    if line == "event: data_updated":
                        break
                with lock:
                    between.append(sum(1 for t in finished if t > pushed_at))
        finally:
            stop.set()
            for thread in floods:
                thread.join()
        assert max(between) <= 3, between
