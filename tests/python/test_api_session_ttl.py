"""--session-ttl: a session nobody uses is deleted, like DELETE; one with a subscriber is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from api_server import assert_error, create_session, serving, sse_events
from polling import wait_for

TTL_S = 2.0


def _listed(client: httpx.Client, session_id: str) -> dict[str, Any] | None:
    """The session's item in GET /v1/sessions (a listing does not count as a use)."""
    for item in client.get("/v1/sessions").json()["sessions"]:
        if item["session_id"] == session_id:
            return dict(item)
    return None


def test_the_default_ttl_is_shown(client: httpx.Client, session_id: str) -> None:
    item = _listed(client, session_id)
    assert item is not None and 0 < item["expires_in_s"] <= 3600 and item["idle_s"] >= 0
    state = client.get(f"/v1/sessions/{session_id}").json()
    assert state["expires_in_s"] <= 3600 and state["kv_bytes"] > 0


def test_idle_sessions_expire_and_subscribed_ones_stay(model_path: Path) -> None:
    with serving(model_path, "--session-ttl", str(TTL_S)) as server, server.client() as client:
        watched = create_session(client, "iot")["session_id"]
        with client.stream("GET", f"/v1/sessions/{watched}/events") as events:
            frames = sse_events(events.iter_lines())  # held: a dropped iterator closes the stream
            assert next(frames)[0] == "connected"
            idle = create_session(client, "iot")["session_id"]
            first = _listed(client, idle)
            assert first is not None and first["expires_in_s"] <= TTL_S and not first["in_use"]
            wait_for(lambda: _listed(client, idle) is None, what="the idle session to expire")
            assert_error(client.get(f"/v1/sessions/{idle}"), 404, "session_id")
            # Expired after the watched one was attached: the subscriber kept it alive past its TTL.
            item = _listed(client, watched)
            assert item is not None and item["in_use"] and item["expires_in_s"] == TTL_S
        wait_for(lambda: _listed(client, watched) is None, what="the session to expire once unwatched")
        assert client.get("/v1/sessions").json()["count"] == 0


def test_ttl_zero_never_expires(model_path: Path) -> None:
    with serving(model_path, "--session-ttl", "0") as server, server.client() as client:
        sid = create_session(client, "iot")["session_id"]
        item = _listed(client, sid)
        assert item is not None and item["expires_in_s"] is None
