"""What the sync and async clients share: where the server is, when to try again, and a
request described once (``Call``) for both to send."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from streaminfer.client.errors import APIConnectionError, APIError, APIStatusError, APITimeoutError

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 600.0  # a non-streamed generate may wait up to the server's --generate-timeout
BASE_URL_ENV = "STREAMINFER_BASE_URL"
API_KEY_ENV = "STREAMINFER_API_KEY"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` (from 0) waits
    ``min(max_delay, initial_delay * 2**n)``, give or take ``jitter`` of it, or what the
    server's ``Retry-After`` asks when that is longer (up to ``max_delay``)."""

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.max_delay, self.initial_delay * 2.0**attempt)
        base *= 1 + self.jitter * (2 * random.random() - 1)
        return min(self.max_delay, max(base, retry_after or 0.0))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how its answer is read. ``idempotent``: sending it twice does what
    sending it once does, so it is sent again after a lost answer too."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    idempotent: bool = False


def settings(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The server's root URL and the headers every request carries, from the arguments or
    the environment (STREAMINFER_BASE_URL, STREAMINFER_API_KEY). A base URL ending in
    ``/v1`` (the form OpenAI clients use) is taken as its root."""
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    url = url.removesuffix("/v1")
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return url, headers


def request_kwargs(call: Call[Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if call.json is not None:
        kwargs["json"] = call.json
    if call.content is not None:
        kwargs["content"] = call.content
        kwargs["headers"] = {"content-type": call.content_type}
    return kwargs


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"no answer in time: {exc}")
    return APIConnectionError(f"connection failed: {exc}")


def retry_delay(
    policy: RetryPolicy, call: Call[Any], attempt: int, error: APIError, sent: bool = True
) -> float | None:
    """Seconds to wait before sending ``call`` again after ``error``, or None to raise it.

    Sent again, whatever the call: when the connection could not be made (``sent`` false),
    on 429, and on 503 ``engine_not_ready``; none of these did anything. Idempotent calls
    also after a lost answer and on 502, 503 and 504.
    """
    if attempt >= policy.max_retries:
        return None
    if isinstance(error, APIStatusError):
        status = error.status_code
        untouched = status == 429 or (status == 503 and error.code == "engine_not_ready")
        if not untouched and not (call.idempotent and status in (502, 503, 504)):
            return None
        return policy.delay(attempt, _retry_after(error.response))
    if sent and not call.idempotent:
        return None
    return policy.delay(attempt)


def was_sent(exc: httpx.TransportError) -> bool:
    """False when the request never reached the server (the connection was not made)."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
