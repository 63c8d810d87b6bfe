"""/generate: live generation (plain and streamed), the flash cache hit, and the limits."""

from __future__ import annotations

import re
import threading

import httpx
from api_server import (
    CTX_SIZE,
    JSON,
    RunningServer,
    assert_error,
    records,
    session,
    sse_events,
    wait_answered,
)
from polling import WAIT_S, wait_for

GENERATE_KEYS = {
    "text",
    "n_tokens",
    "tokens_generated",
    "total_tokens",
    "pos_max",
    "from_cache",
    "confidence",
    "flash",
    "flash_id",
    "data_version",
    "logit_gap",
}


def test_generate_on_the_live_context(client: httpx.Client, session_id: str) -> None:
    client.post(f"/v1/sessions/{session_id}/stream/push", json={"data": records("ohlcv", 3)})
    state_url = f"/v1/sessions/{session_id}/state"
    before = wait_for(lambda: (s := client.get(state_url).json())["data_count"] == 3 and s)
    response = client.post(
        f"/v1/sessions/{session_id}/generate", json={"prompt": "Summarise the candles.", "max_tokens": 6}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == GENERATE_KEYS
    assert body["from_cache"] is False and body["flash"] is False and body["flash_id"] is None
    assert 0 < body["n_tokens"] <= 6 and body["tokens_generated"] == body["n_tokens"]
    assert isinstance(body["text"], str)
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["logit_gap"] is None or body["logit_gap"] >= 0.0
    assert (
        body["data_version"] == client.get(f"/v1/sessions/{session_id}/flash").json()["current_data_version"]
    )
    # Answering does not disturb the live context.
    after = client.get(state_url).json()
    assert after["context_text"] == before["context_text"]
    assert after["n_tokens"] == before["n_tokens"] and after["pos_next"] == before["pos_next"]


def test_generate_stop_strings_and_clamping(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/generate"
    one = client.post(url, json={"prompt": "Say hello.", "max_tokens": 0})  # clamped to 1
    assert one.status_code == 200, one.text
    assert one.json()["n_tokens"] == 1
    stopped = client.post(url, json={"prompt": "Count: 1, 2, 3,", "max_tokens": 8, "stop": ["\n", "5"]})
    assert stopped.status_code == 200, stopped.text
    assert "5" not in stopped.json()["text"]


def test_generate_validation(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/generate"
    assert_error(client.post(url, json={}), 422, "prompt")
    assert_error(client.post(url, json={"prompt": 1}), 422, "prompt")
    assert_error(client.post(url, json={"prompt": "x", "max_tokens": 2.0}), 422, "max_tokens")
    assert_error(client.post(url, json={"prompt": "x", "stream": "yes"}), 422, "stream")
    assert_error(client.post(url, json={"prompt": "x", "stop": [1]}), 422, "stop[0]")
    assert_error(client.post(url, content=b"{", headers=JSON), 400)


def test_prompt_longer_than_the_context_is_400_naming_both_sizes(
    client: httpx.Client, session_id: str
) -> None:
    prompt = "Tell me about the market today. " * (CTX_SIZE // 2)
    error = assert_error(client.post(f"/v1/sessions/{session_id}/generate", json={"prompt": prompt}), 400)
    sizes = [int(n) for n in re.findall(r"\d+", error["message"])]
    assert len(sizes) >= 2, error
    assert any(n > CTX_SIZE for n in sizes), error  # the prompt's size is named


def test_streamed_generate(api_server: RunningServer, session_id: str) -> None:
    with (
        api_server.client() as client,
        client.stream(
            "POST",
            f"/v1/sessions/{session_id}/generate",
            json={"prompt": "Describe BTC.", "max_tokens": 5, "stream": True},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [data for _, data, _ in sse_events(response.iter_lines()) if data is not None]
    *tokens, done = frames
    assert done["done"] is True and set(done) == {"done", "text", "n_tokens"}
    assert 0 < done["n_tokens"] <= 5
    for frame in tokens:
        assert set(frame) == {"done", "token", "pos"} and frame["done"] is False
        assert isinstance(frame["token"], str) and isinstance(frame["pos"], int)
    assert "".join(f["token"] for f in tokens) == done["text"]


def test_streamed_generate_client_disconnect(api_server: RunningServer, session_id: str) -> None:
    with api_server.client() as client:
        with client.stream(
            "POST",
            f"/v1/sessions/{session_id}/generate",
            json={"prompt": "Write a poem.", "max_tokens": 24, "stream": True},
        ) as response:
            next(response.iter_lines())  # the first token, then hang up
        wait_for(lambda: client.get("/v1/internal/stats").json()["generate_waiters"] == 0)
        # The server and the session keep working.
        again = client.post(f"/v1/sessions/{session_id}/generate", json={"prompt": "Hi.", "max_tokens": 2})
        assert again.status_code == 200, again.text


def test_cache_hit_returns_the_flash_answer(client: httpx.Client) -> None:
    query = "Is the trend up or down?"
    with session(client, "ohlcv", flash=[{"query": query, "max_tokens": 4}]) as sid:
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 4)})
        item = wait_answered(client, sid, query)
        hit = client.post(f"/v1/sessions/{sid}/generate", json={"prompt": query})
        assert hit.status_code == 200, hit.text
        body = hit.json()
        assert set(body) == GENERATE_KEYS
        assert body["from_cache"] is True and body["flash"] is True
        assert body["flash_id"] == item["id"] and body["tokens_generated"] == 0
        assert body["text"] == item["value"]
        assert body["data_version"] == item["data_version"]
        assert body["confidence"] == item["confidence"]
        # Whitespace is folded when matching.
        folded = client.post(
            f"/v1/sessions/{sid}/generate", json={"prompt": f"  {query.replace(' ', '   ')} "}
        )
        assert folded.json()["from_cache"] is True
        # Streamed, a hit is a single done frame.
        with client.stream(
            "POST", f"/v1/sessions/{sid}/generate", json={"prompt": query, "stream": True}
        ) as r:
            frames = [data for _, data, _ in sse_events(r.iter_lines()) if data is not None]
        assert frames == [{"done": True, "text": item["value"], "n_tokens": body["n_tokens"]}]
        # Another prompt is generated live.
        miss = client.post(
            f"/v1/sessions/{sid}/generate", json={"prompt": "Something else?", "max_tokens": 2}
        )
        assert miss.json()["from_cache"] is False


def test_deleting_the_session_fails_a_pending_generate(
    api_server: RunningServer, client: httpx.Client
) -> None:
    """The pending request fails at once (503); the DELETE itself may take longer, because
    the core lets a running generation finish before it frees the session."""
    sid = client.post("/v1/sessions/init", json={"type": "event"}).json()["session_id"]
    result: dict[str, httpx.Response] = {}

    def call(name: str, method: str, path: str, body: dict[str, object] | None = None) -> None:
        with api_server.client(timeout=600) as other:
            result[name] = other.request(method, path, json=body)

    # Long enough to still be running when the session goes.
    body = {"prompt": "Count from 1 to 1000, separated by commas: 1, 2, 3,", "max_tokens": 64}
    asking = threading.Thread(target=call, args=("generate", "POST", f"/v1/sessions/{sid}/generate", body))
    asking.start()
    wait_for(lambda: client.get("/v1/internal/stats").json()["generate_waiters"] >= 1, interval=0.01)
    deleting = threading.Thread(target=call, args=("delete", "DELETE", f"/v1/sessions/{sid}"))
    deleting.start()
    asking.join(WAIT_S)
    assert not asking.is_alive()
    error = assert_error(result["generate"], 503)
    assert error["code"] == "generate_failed" and "deleted" in error["message"]
    deleting.join(600)
    assert result["delete"].status_code == 200
