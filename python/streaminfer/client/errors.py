"""The client's errors: one hierarchy, chosen by HTTP status (docs/api.md, "Errors").

``APIError`` is the base. ``APIConnectionError`` (and ``APITimeoutError``): no
answer came. ``APIStatusError`` and its subclasses: the server answered with an
error body, whose ``type``, ``code`` and ``param`` they carry.
"""

from __future__ import annotations

from typing import Any

import httpx


class APIError(Exception):
    """Anything the client raises for a request that did not succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(APIError):
    """The server could not be reached, or the connection dropped before an answer."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


class StreamBufferFullError(APIError):
    """``stream().push`` while the stream's buffer of unsent records is full (``on_overflow="raise"``)."""


class PushRefusedError(APIError):
    """The server refused a frame ``stream().push`` sent (``code``: the HTTP status the same
    push would get, 413 or 422); its ``records`` were not queued and are not sent again."""

    def __init__(self, message: str, code: int, records: list[Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.records = records


class GenerationError(APIError):
    """A streamed answer failed after it had begun (its last frame was an error)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


class APIStatusError(APIError):
    """The server answered with an error status."""

    def __init__(self, response: httpx.Response, body: dict[str, Any] | None) -> None:
        detail = (body or {}).get("error") or {}
        message = str(detail.get("message") or response.reason_phrase or f"HTTP {response.status_code}")
        super().__init__(f"{response.status_code} {detail.get('code') or ''}: {message}".replace(" :", ":"))
        self.response = response
        self.status_code = response.status_code
        self.type: str | None = detail.get("type")
        self.code: str | None = detail.get("code")
        self.param: str | None = detail.get("param")
        self.body = body


class BadRequestError(APIStatusError):
    """400, 413, 415, 421, 422: the request is wrong; sending it again will not help."""


class AuthenticationError(APIStatusError):
    """401: no API key, or not one the server knows."""


class PermissionDeniedError(APIStatusError):
    """403: the request's Origin is not allowed."""


class NotFoundError(APIStatusError):
    """404 (and 405): no such session, flash query or route."""


class ConflictError(APIStatusError):
    """409: a duplicate flash query, or a save without a state directory."""


class RateLimitError(APIStatusError):
    """429: a limit on sessions, flash queries or generations in flight."""


class ServerError(APIStatusError):
    """5xx: the server could not do it now (not ready, out of memory, a failed generation)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def status_error(response: httpx.Response) -> APIStatusError:
    """The error for a response with a status of 400 or more (its body read)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = None
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else BadRequestError
    return cls(response, body)
