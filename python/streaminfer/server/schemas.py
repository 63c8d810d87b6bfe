"""Request bodies: their JSON shape and types, written once as ``TypedDict`` classes.

``body`` checks a request against its shape (shapes.py), and the OpenAPI
document describes the same classes, so the two cannot disagree. The layers
are described in docs/api.md ("Validation: who checks what"): a shape checks
that a body is a JSON object, that each field has its JSON type (integers
must be JSON integers: ``12.0`` and ``true`` are not), that required fields
are present and strings are valid UTF-8. It checks no value: ranges,
lengths, limits and the record fields are the core's rules
(``streaminfer._core`` raises ``ParamError`` / ``RecordError``, which
errors.py turns into 422s naming the field). Every failure here is a 422
naming the field, except an unreadable body (400) or one too large (413).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypedDict, TypeVar

from starlette.requests import Request

from streaminfer.server.errors import (
    BodyTooLarge,
    InvalidField,
    InvalidJSON,
    TextTooLong,
    UnsupportedMediaType,
)
from streaminfer.server.shapes import Ref, parse, type_name

Shape = TypeVar("Shape")

# Longest text the server tokenizes for one field (a prompt, a question, a flash query,
# appended text), in bytes of UTF-8. Far above what a context holds; a cheap bound on
# the work one request can ask for before the core counts its tokens.
MAX_TEXT_BYTES = 128 * 1024

Record = Annotated[
    Any, Ref("Record"), 'A record of the session\'s type (docs/api.md, "Record types"); checked by the core.'
]


class _FlashRequired(TypedDict):
    query: Annotated[str, "The question, answered again after every data batch."]


class FlashSpec(_FlashRequired, total=False):
    """A flash query to register."""

    max_tokens: Annotated[int, "Longest answer in tokens (default 32, clamped to [1, 256])."]


class _InitRequired(TypedDict):
    type: Annotated[str, "The record type: ohlcv, iot, spatial, event or vitals."]


class InitBody(_InitRequired, total=False):
    """``POST /v1/sessions/init``."""

    prompt: Annotated[str, "The system prompt, decoded once into the session's prefix."]
    context_size: Annotated[int, "Tokens of context (default: the server's --ctx-size)."]
    window_size: Annotated[int, "Records the window holds (default: as many as fit)."]
    flash: Annotated[list[str | FlashSpec], "Flash queries to register now (a string is a query)."]


class AppendBody(TypedDict):
    """``POST /v1/sessions/{id}/append``."""

    text: Annotated[str, "Text decoded after the data, in the context (not a record)."]


class EmptyBody(TypedDict, total=False):
    """No fields: the body may be empty or ``{}``."""


class PushBody(TypedDict):
    """``POST /v1/sessions/{id}/stream/push`` (and the WebSocket ``push`` frame)."""

    data: Annotated[list[Record], "The records, oldest first; validated whole before any is queued."]


class _GenerateRequired(TypedDict):
    prompt: Annotated[str, "The question, answered against the live window."]


class GenerateBody(_GenerateRequired, total=False):
    """``POST /v1/sessions/{id}/generate``."""

    max_tokens: Annotated[int, "Longest answer in tokens (default min(128, context_size))."]
    stream: Annotated[bool, "Answer as Server-Sent Events, one per token (default false)."]
    stop: Annotated[str | list[str], "Strings that end the answer (not included in it)."]


class ChatTextPart(TypedDict):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class _ChatMessageRequired(TypedDict):
    role: Literal["system", "developer", "user", "assistant", "tool"]


class ChatMessage(_ChatMessageRequired, total=False):
    """A chat message; the last one must be the user's question."""

    content: str | list[ChatTextPart]
    name: str


class _ChatRequired(TypedDict):
    model: Annotated[str, "A session id (sess_…), or the model's id with an x-session-id header."]
    messages: Annotated[list[ChatMessage], "The conversation; its last message is the question."]


class ChatBody(_ChatRequired, total=False):
    """``POST /v1/chat/completions``. Fields of OpenAI's request not named here are ignored."""

    stream: Annotated[bool, "Answer as chat.completion.chunk Server-Sent Events (default false)."]
    max_completion_tokens: Annotated[int, "Longest answer in tokens."]
    max_tokens: Annotated[int, "Longest answer in tokens (the older name of max_completion_tokens)."]
    stop: Annotated[str | list[str], "Strings that end the answer (not included in it)."]


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing (413) anything over ``max_bytes`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"request body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes | str, *, empty_ok: bool = False) -> dict[str, Any]:
    """Decode a JSON object: 400 for bytes that are not JSON, 422 for JSON that is not an object."""
    if not raw.strip():
        if empty_ok:
            return {}
        raise InvalidJSON("empty body; expected a JSON object")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJSON(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidField(f"expected a JSON object, got {type_name(value)}")
    return value


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters allowed."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_content_type(request: Request, raw: bytes, empty_ok: bool) -> None:
    """415 unless the body is declared JSON. A web page can send ``text/plain``, form or
    header-less posts to any host without the browser asking first; it cannot send JSON."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        if empty_ok and not raw.strip():
            return
        raise UnsupportedMediaType("a request body needs 'Content-Type: application/json'")
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(f"Content-Type {content_type!r} is not JSON; send 'application/json'")


async def body(request: Request, shape: type[Shape], max_bytes: int) -> Shape:
    """The request's body checked against ``shape`` (absent optional fields left out); an
    empty body is ``{}`` when the shape requires no field."""
    empty_ok = not getattr(shape, "__required_keys__", ())
    raw = await read_body(request, max_bytes)
    check_content_type(request, raw, empty_ok)
    value = parse_json_object(raw, empty_ok=empty_ok)
    parsed: Shape = parse(value, shape)
    return parsed


def bounded_text(text: str, param: str) -> str:
    """``text``, once it is at most ``MAX_TEXT_BYTES`` of UTF-8 (422 naming ``param`` past it)."""
    # A str holds at most 4 bytes of UTF-8 per character: most texts need no encoding.
    if len(text) * 4 > MAX_TEXT_BYTES:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_TEXT_BYTES:
            raise TextTooLong(f"{param} is {size} bytes; the limit is {MAX_TEXT_BYTES} bytes", param=param)
    return text


def flash_specs(items: list[str | FlashSpec]) -> list[tuple[str, int | None]]:
    """``flash`` items as the core takes them: (query, max_tokens or None for its default)."""
    specs: list[tuple[str, int | None]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            specs.append((bounded_text(item, f"flash[{i}]"), None))
        else:
            specs.append((bounded_text(item["query"], f"flash[{i}].query"), item.get("max_tokens")))
    return specs


def stop_list(stop: str | list[str] | None) -> list[str] | None:
    """``stop`` as a list (a single string, as some clients send it, is one stop string)."""
    return [stop] if isinstance(stop, str) else stop
