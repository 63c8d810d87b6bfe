"""Flash queries: register, list, delete, evaluation after data, and their limits."""

from __future__ import annotations

import httpx
from api_server import JSON, assert_error, records, session, wait_answered

Q_KEYS = {
    "id",
    "query",
    "max_tokens",
    "n_tokens",
    "has_answer",
    "value",
    "data_version",
    "confidence",
    "evaluated_at",
    "last_evaluated_ms",
}


def test_register_list_delete(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/flash"
    first = client.post(url, json={"query": "Is the price rising?", "max_tokens": 4})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["query"] == "Is the price rising?"
    assert body["max_tokens"] == 4 and body["n_tokens"] > 0
    assert body["total_flash_queries"] == 1 and body["status"] == "registered"
    second = client.post(url, json={"query": "What was the last close?"}).json()
    assert second["max_tokens"] == 32  # the default
    assert second["id"] != body["id"] and second["total_flash_queries"] == 2

    listing = client.get(url).json()
    assert listing["count"] == 2
    assert listing["flash_queries"] == listing["queries"]
    assert isinstance(listing["current_data_version"], int)
    for item in listing["flash_queries"]:
        assert set(item) == Q_KEYS
        assert item["last_evaluated_ms"] == item["evaluated_at"]
    pending = next(q for q in listing["flash_queries"] if q["id"] == body["id"])
    if not pending["has_answer"]:
        assert pending["value"] == "" and pending["confidence"] == 0.0

    deleted = client.delete(f"{url}/{body['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"success": True, "remaining": 1}
    assert [q["id"] for q in client.get(url).json()["flash_queries"]] == [second["id"]]
    assert_error(client.delete(f"{url}/{body['id']}"), 404)


def test_max_tokens_is_clamped(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/flash"
    assert client.post(url, json={"query": "a?", "max_tokens": 10_000}).json()["max_tokens"] == 256
    assert client.post(url, json={"query": "b?", "max_tokens": 0}).json()["max_tokens"] == 1
    assert client.post(url, json={"query": "c?", "max_tokens": -5}).json()["max_tokens"] == 1
    assert client.post(url, json={"query": "d?", "max_tokens": 10**40}).json()["max_tokens"] == 256
    assert_error(client.post(url, json={"query": "e?", "max_tokens": 8.0}), 422, "max_tokens")
    assert_error(client.post(url, json={"query": "e?", "max_tokens": True}), 422, "max_tokens")


def test_duplicate_is_409_and_the_21st_is_429(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/flash"
    assert client.post(url, json={"query": "Trend?", "max_tokens": 1}).status_code == 200
    assert_error(client.post(url, json={"query": "Trend?"}), 409)
    assert client.post(url, json={"query": "a b", "max_tokens": 1}).status_code == 200
    assert_error(client.post(url, json={"query": "a\u00a0b"}), 409, "query")  # Unicode whitespace folds too
    for i in range(18):
        response = client.post(url, json={"query": f"Question {i}?", "max_tokens": 1})
        assert response.status_code == 200, response.text
    assert_error(client.post(url, json={"query": "One too many?"}), 429)
    assert client.get(url).json()["count"] == 20


def test_register_validation(client: httpx.Client, session_id: str) -> None:
    url = f"/v1/sessions/{session_id}/flash"
    assert_error(client.post(url, json={}), 422, "query")
    assert_error(client.post(url, json={"query": 5}), 422, "query")
    assert_error(client.post(url, json={"query": "   "}), 422, "query")
    assert_error(client.post(url, content=b"nope", headers=JSON), 400)
    for qid in ("999999", "abc", "-1", "99999999999999999999999", "1.5"):
        assert_error(client.delete(f"{url}/{qid}"), 404)


def test_queries_are_answered_after_data(client: httpx.Client) -> None:
    query = "Is the last close above 100?"
    with session(client, "ohlcv", flash=[{"query": query, "max_tokens": 4}]) as sid:
        version_before = client.get(f"/v1/sessions/{sid}/flash").json()["current_data_version"]
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 3)})
        item = wait_answered(client, sid, query)
        assert item["has_answer"] is True
        assert item["data_version"] > version_before
        assert 0.0 <= item["confidence"] <= 1.0
        assert item["evaluated_at"] > 0 and item["last_evaluated_ms"] == item["evaluated_at"]
        assert isinstance(item["value"], str)
