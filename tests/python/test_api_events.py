"""SSE /events: connected first, data_updated and flash_ready, pings, and release at disconnect."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from api_server import RunningServer, records, session, sse_events, subscribers
from polling import WAIT_S, wait_for

FLASH_READY_KEYS = {"type", "id", "query", "value", "confidence", "data_version", "evaluated_at"}
DATA_UPDATED_KEYS = {"type", "data_version", "data_count", "pos_next"}


def _until(
    frames: Iterator[tuple[str | None, dict[str, Any] | None, str]], event: str, timeout: float = WAIT_S
) -> dict[str, Any]:
    """The next frame of kind ``event`` (pings keep the stream moving, so the deadline is checked)."""
    deadline = time.monotonic() + timeout
    for name, data, _ in frames:
        if name == event and data is not None:
            return data
        assert time.monotonic() < deadline, f"no {event} event within {timeout:g} s"
    raise AssertionError(f"the stream ended before a {event} event")


def test_connected_then_data_updated_and_flash_ready(api_server: RunningServer) -> None:
    query = "Is the volume rising?"
    with (
        api_server.client() as client,
        session(client, "ohlcv", flash=[{"query": query, "max_tokens": 3}]) as sid,
        client.stream("GET", f"/v1/sessions/{sid}/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        frames = sse_events(response.iter_lines())
        name, connected, _ = next(frames)
        assert name == "connected" and connected is not None
        assert connected == {
            "type": "connected",
            "data_version": connected["data_version"],
            "flash_queries": 1,
        }
        assert isinstance(connected["data_version"], int)

        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 3)})
        updated = _until(frames, "data_updated")
        assert set(updated) == DATA_UPDATED_KEYS and updated["type"] == "data_updated"
        assert updated["data_version"] > connected["data_version"]
        assert 1 <= updated["data_count"] <= 3 and updated["pos_next"] > 0

        ready = _until(frames, "flash_ready")
        assert set(ready) == FLASH_READY_KEYS and ready["type"] == "flash_ready"
        assert ready["query"] == query and isinstance(ready["id"], int)
        assert isinstance(ready["value"], str) and 0.0 <= ready["confidence"] <= 1.0
        assert ready["data_version"] >= updated["data_version"]
        assert ready["evaluated_at"] > 0


def test_ping_comment_after_silence(api_server: RunningServer) -> None:
    # The fixture server pings after 0.5 s of silence (15 s by default).
    with (
        api_server.client() as client,
        session(client, "iot") as sid,
        client.stream("GET", f"/v1/sessions/{sid}/events") as response,
    ):
        frames = sse_events(response.iter_lines())
        assert next(frames)[0] == "connected"
        for _ in range(2):
            name, data, raw = next(frames)
            assert (name, data, raw) == (None, None, ": ping")


def test_disconnect_releases_the_subscription(api_server: RunningServer) -> None:
    with api_server.client() as client, session(client, "event") as sid:
        wait_for(lambda: subscribers(client) == 0)
        with contextlib.ExitStack() as stack:
            readers = []  # keep the line iterators: dropping one closes its connection
            for _ in range(3):
                stream_client = stack.enter_context(api_server.client())
                response = stack.enter_context(stream_client.stream("GET", f"/v1/sessions/{sid}/events"))
                readers.append(sse_events(response.iter_lines()))
                assert next(readers[-1])[0] == "connected"
            assert subscribers(client) == 3
            listing = client.get("/v1/sessions").json()["sessions"]
            assert next(s for s in listing if s["session_id"] == sid)["in_use"] is True
        # All three hung up: the subscriptions are gone at once, not at the next ping.
        wait_for(lambda: subscribers(client) == 0, timeout=10)
        listing = client.get("/v1/sessions").json()["sessions"]
        assert next(s for s in listing if s["session_id"] == sid)["in_use"] is False


def test_deleting_the_session_ends_the_stream(api_server: RunningServer) -> None:
    with api_server.client() as client:
        sid = client.post("/v1/sessions/init", json={"type": "vitals"}).json()["session_id"]
        with client.stream("GET", f"/v1/sessions/{sid}/events") as response:
            frames = sse_events(response.iter_lines())
            assert next(frames)[0] == "connected"
            assert client.delete(f"/v1/sessions/{sid}").status_code == 200
            deadline = time.monotonic() + WAIT_S
            for name, _, raw in frames:  # only pings until the server ends the stream
                assert (name, raw) == (None, ": ping")
                assert time.monotonic() < deadline, "the stream did not end"
        wait_for(lambda: subscribers(client) == 0, timeout=10)
