"""The OpenAI-compatible chat route, driven by the official ``openai`` client against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import openai
import pytest
from api_server import RunningServer, checked_client, records, session, wait_answered

QUESTION = "What was the last close price?"
FLASH = "Is the trend up or down?"


class Chat(NamedTuple):
    sdk: openai.OpenAI
    sid: str
    http: httpx.Client


@pytest.fixture
def chat(api_server: RunningServer) -> Iterator[Chat]:
    """An OpenAI client on the server (its responses checked against the OpenAPI document) and a
    session with data and one answered flash query."""
    with checked_client(api_server.base_url) as http:
        sdk = openai.OpenAI(
            base_url=f"{api_server.base_url}/v1", api_key="unused", http_client=http, max_retries=0
        )
        with session(http, "ohlcv", flash=[FLASH]) as sid:
            pushed = http.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 6)})
            assert pushed.json()["pushed"] == 6
            wait_answered(http, sid, FLASH)
            yield Chat(sdk, sid, http)


def _extension(completion: Any) -> dict[str, Any]:
    extra: dict[str, Any] = completion.model_dump()["streaminfer"]
    return extra


def test_chat_answers_against_the_live_window(chat: Chat) -> None:
    sdk, sid, _ = chat
    completion = sdk.chat.completions.create(
        model=sid, messages=[{"role": "user", "content": QUESTION}], max_tokens=12
    )
    assert completion.object == "chat.completion" and completion.model == sid
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None and 1 <= completion.usage.completion_tokens <= 12
    assert completion.usage.prompt_tokens > 0
    extension = _extension(completion)
    assert extension["session_id"] == sid and extension["from_cache"] is False

    # Streamed, the same question on the same window gives the same (greedy) answer.
    stream = sdk.chat.completions.create(
        model=sid, messages=[{"role": "user", "content": QUESTION}], max_tokens=12, stream=True
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == choice.message.content
    assert chunks[-1].choices[0].finish_reason == choice.finish_reason


def test_session_by_header_and_earlier_messages(chat: Chat) -> None:
    sdk, sid, _ = chat
    model_id = sdk.models.list().data[0].id
    completion = sdk.chat.completions.create(
        model=model_id,
        messages=[
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
        max_tokens=12,
        extra_headers={"x-session-id": sid},
    )
    assert completion.model == sid and completion.choices[0].message.content


def test_a_fresh_flash_query_is_answered_from_its_cache(chat: Chat) -> None:
    sdk, sid, http = chat
    cached = wait_answered(http, sid, FLASH)
    completion = sdk.chat.completions.create(model=sid, messages=[{"role": "user", "content": f"  {FLASH} "}])
    assert _extension(completion)["from_cache"] is True
    assert completion.choices[0].message.content == cached["value"]
    streamed = sdk.chat.completions.create(
        model=sid, messages=[{"role": "user", "content": FLASH}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == cached["value"]


def test_refusals_are_clear(chat: Chat) -> None:
    sdk, sid, _ = chat
    user = {"role": "user", "content": QUESTION}
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        sdk.chat.completions.create(model=sid, messages=[{"role": "system", "content": "Be brief."}, user])
    assert refused.value.body["param"] == "messages[0].role"  # type: ignore[index]
    assert "prompt is fixed" in refused.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError) as last:
        sdk.chat.completions.create(model=sid, messages=[user, {"role": "assistant", "content": "x"}])
    assert last.value.body["param"] == "messages[1].role"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.chat.completions.create(model="sess_" + "0" * 24, messages=[user])
    assert unknown.value.body["code"] == "session_not_found" and unknown.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as unnamed:
        sdk.chat.completions.create(model="gpt-4o", messages=[user])
    assert unnamed.value.body["code"] == "session_required"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as mismatch:
        sdk.chat.completions.create(model="gpt-4o", messages=[user], extra_headers={"x-session-id": sid})
    assert mismatch.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model=sid, messages=[])


def test_models_lists_the_model_in_openai_shape(chat: Chat) -> None:
    sdk, _, _ = chat
    models = sdk.models.list()
    assert len(models.data) == 1
    model = models.data[0]
    assert model.object == "model" and model.owned_by == "streaminfer" and model.created > 0
