"""Every REST route of the server (docs/api.md) as a ``Call``: its method, path, body and
typed answer, written once for the sync and the async client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from streaminfer.client.errors import GenerationError
from streaminfer.client.transport import Call
from streaminfer.client.types import (
    Appended,
    ChatCompletion,
    FlashDeleted,
    FlashList,
    FlashRegistered,
    Generated,
    GenerateDone,
    GenerateToken,
    Health,
    Model,
    PrefixMarked,
    PushResult,
    ServerStats,
    SessionCreated,
    SessionList,
    SessionSaved,
    SessionState,
    Slots,
    StreamStatus,
    WindowStats,
    decode,
)

T = TypeVar("T")
Record = Mapping[str, Any]
WINDOW_STATS_KEYS = ("type", "count", "latency")


def _json(cls: type[T]) -> Any:
    def parse(response: httpx.Response) -> T:
        return decode(cls, response.json())

    return parse


def _none(response: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


def _bytes(response: httpx.Response) -> bytes:
    return response.content


def _models(response: httpx.Response) -> list[Model]:
    return [decode(Model, m) for m in response.json()["data"]]


def _window_stats(response: httpx.Response) -> WindowStats:
    body = response.json()
    values = {k: v for k, v in body.items() if k not in WINDOW_STATS_KEYS}
    return decode(WindowStats, {**{k: body.get(k) for k in WINDOW_STATS_KEYS}, "values": values})


def session_path(session_id: str, tail: str = "") -> str:
    return f"/v1/sessions/{quote(session_id, safe='')}{tail}"


def _flash_items(flash: Sequence[str | Mapping[str, Any]]) -> list[Any]:
    return [{"query": q} if isinstance(q, str) else dict(q) for q in flash]


def _optional(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# -- service ------------------------------------------------------------------------------
def health() -> Call[Health]:
    return Call("GET", "/v1/health", _json(Health), idempotent=True)


def models() -> Call[list[Model]]:
    return Call("GET", "/v1/models", _models, idempotent=True)


def server_stats() -> Call[ServerStats]:
    return Call("GET", "/v1/internal/stats", _json(ServerStats), idempotent=True)


def metrics() -> Call[str]:
    return Call("GET", "/metrics", _text, idempotent=True)


def chat(
    session_id: str, messages: Sequence[Mapping[str, str]], max_tokens: int | None = None
) -> Call[ChatCompletion]:
    body = {"model": session_id, "messages": [dict(m) for m in messages], **_optional(max_tokens=max_tokens)}
    return Call("POST", "/v1/chat/completions", _json(ChatCompletion), json=body, idempotent=True)


# -- sessions -----------------------------------------------------------------------------
def create_session(
    type: str,
    flash: Sequence[str | Mapping[str, Any]],
    prompt: str | None,
    context_size: int | None,
    window_size: int | None,
) -> Call[SessionCreated]:
    body = {
        "type": type,
        "flash": _flash_items(flash),
        **_optional(prompt=prompt, context_size=context_size, window_size=window_size),
    }
    return Call("POST", "/v1/sessions/init", _json(SessionCreated), json=body)


def list_sessions() -> Call[SessionList]:
    return Call("GET", "/v1/sessions", _json(SessionList), idempotent=True)


def import_session(data: bytes) -> Call[SessionCreated]:
    return Call(
        "POST",
        "/v1/sessions/import",
        _json(SessionCreated),
        content=data,
        content_type="application/x-ndjson",
    )


def state(session_id: str) -> Call[SessionState]:
    return Call("GET", session_path(session_id, "/state"), _json(SessionState), idempotent=True)


def delete(session_id: str) -> Call[None]:
    return Call("DELETE", session_path(session_id), _none, idempotent=True)


def append(session_id: str, text: str) -> Call[Appended]:
    return Call("POST", session_path(session_id, "/append"), _json(Appended), json={"text": text})


def mark_prefix(session_id: str) -> Call[PrefixMarked]:
    return Call("POST", session_path(session_id, "/mark_prefix"), _json(PrefixMarked), json={})


def slots(session_id: str) -> Call[Slots]:
    return Call("GET", session_path(session_id, "/slots"), _json(Slots), idempotent=True)


def save(session_id: str) -> Call[SessionSaved]:
    return Call("POST", session_path(session_id, "/save"), _json(SessionSaved), json={}, idempotent=True)


def export(session_id: str) -> Call[bytes]:
    return Call("GET", session_path(session_id, "/export"), _bytes, idempotent=True)


# -- data ---------------------------------------------------------------------------------
def push(session_id: str, records: Sequence[Record]) -> Call[PushResult]:
    body = {"data": [dict(r) for r in records]}
    return Call("POST", session_path(session_id, "/stream/push"), _json(PushResult), json=body)


def status(session_id: str) -> Call[StreamStatus]:
    return Call("GET", session_path(session_id, "/stream/status"), _json(StreamStatus), idempotent=True)


def stats(session_id: str) -> Call[WindowStats]:
    return Call("GET", session_path(session_id, "/stats"), _window_stats, idempotent=True)


# -- questions ----------------------------------------------------------------------------
def add_flash(session_id: str, query: str, max_tokens: int | None) -> Call[FlashRegistered]:
    body = {"query": query, **_optional(max_tokens=max_tokens)}
    return Call("POST", session_path(session_id, "/flash"), _json(FlashRegistered), json=body)


def list_flash(session_id: str) -> Call[FlashList]:
    return Call("GET", session_path(session_id, "/flash"), _json(FlashList), idempotent=True)


def remove_flash(session_id: str, query_id: int) -> Call[FlashDeleted]:
    path = session_path(session_id, f"/flash/{int(query_id)}")
    return Call("DELETE", path, _json(FlashDeleted), idempotent=True)


def generate_body(prompt: str, max_tokens: int | None, stop: Sequence[str] | None, stream: bool) -> Any:
    return {"prompt": prompt, "stream": stream, **_optional(max_tokens=max_tokens, stop=stop and list(stop))}


def generate_frame(event: str, data: Any) -> GenerateToken | GenerateDone:
    """One frame of a streamed answer (docs/api.md, "Streamed"); GenerationError for its error frame."""
    if event == "error":
        detail = (data or {}).get("error") or {}
        raise GenerationError(str(detail.get("message") or "the generation failed"), detail.get("code"))
    if data.get("done"):
        return decode(GenerateDone, {"text": data["text"], "n_tokens": data["n_tokens"]})
    return decode(GenerateToken, {"token": data["token"], "pos": data["pos"]})


def generate(
    session_id: str, prompt: str, max_tokens: int | None, stop: Sequence[str] | None
) -> Call[Generated]:
    body = generate_body(prompt, max_tokens, stop, False)
    # Asking again changes nothing in the session: safe to send again.
    return Call("POST", session_path(session_id, "/generate"), _json(Generated), json=body, idempotent=True)
