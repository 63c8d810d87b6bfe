"""Error classes and handlers: every non-2xx body is the error shape of docs/api.md.

``{"error": {"message": str, "type": str, "code": str | int | None, "param": str | None}}``

Route code raises the small ``APIError`` subclasses below; ``core_errors``
translates the compiled core's exceptions into them. Unexpected exceptions
become a 500 in the same shape, with the traceback logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("streaminfer.server")


class APIError(Exception):
    """An error with a status code, answered in the API error shape.

    The classes below are the catalogue of errors: each leaf is one
    (status, ``type``, ``code``) with the sentence that says when it happens.
    Routes declare the leaves they raise (api_route.py), and the OpenAPI
    document and the reference's error table are written from them.
    """

    status_code: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "bad_request"
    when: ClassVar[str] = ""

    def __init_subclass__(
        cls, *, status: int | None = None, error_type: str | None = None, code: str = "", when: str = ""
    ) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status_code = status
        if error_type is not None:
            cls.error_type = error_type
        cls.code, cls.when = code or cls.code, when

    def __init__(
        self, message: str, *, param: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.code, self.param)


# -- by status (the classes routes catch) --------------------------------------


class BadRequest(APIError, status=400):
    pass


class Unauthorized(APIError, status=401, error_type="authentication_error"):
    pass


class Forbidden(APIError, status=403, error_type="permission_error"):
    pass


class NotFound(APIError, status=404, error_type="not_found_error"):
    pass


class Conflict(APIError, status=409, error_type="conflict_error"):
    pass


class ValidationFailed(APIError, status=422):
    pass


class TooManyRequests(APIError, status=429, error_type="rate_limit_error"):
    pass


class ServiceUnavailable(APIError, status=503, error_type="service_unavailable"):
    pass


class InsufficientStorage(APIError, status=507, error_type="insufficient_storage"):
    pass


# -- the catalogue ------------------------------------------------------------------


class InvalidJSON(
    BadRequest,
    code="invalid_json",
    when="the body is empty where one is required, is not JSON, or is not valid UTF-8",
):
    pass


class ContextFull(
    BadRequest,
    code="context_full",
    when="text, a prompt or the flash queries do not fit in the session's context; the message gives the "
    "token counts",
):
    pass


class SessionRequired(
    BadRequest,
    code="session_required",
    when="a chat completion names no session: `model` is not a session id and there is no `x-session-id` "
    "header",
):
    pass


class MissingAPIKey(
    Unauthorized,
    code="missing_api_key",
    when="keys are configured and no `Authorization: Bearer` header was sent (nor `?api_key=` on `/ws`)",
):
    pass


class InvalidAPIKey(Unauthorized, code="invalid_api_key", when="the key matches none of the configured keys"):
    pass


class OriginNotAllowed(
    Forbidden,
    code="origin_not_allowed",
    when="a request or WebSocket handshake carries an `Origin` that `--allowed-origins` does not allow (by "
    "default, an origin other than the server's own host); a web page elsewhere cannot drive the API",
):
    pass


class SessionNotFound(
    NotFound, code="session_not_found", when="unknown session id (`param` `session_id`, or `model` in a chat)"
):
    pass


class QueryNotFound(
    NotFound,
    code="query_not_found",
    when="unknown flash query id, or one that is not a decimal number (`param` `query_id`)",
):
    pass


class ModelNotFound(
    NotFound,
    code="model_not_found",
    when="a chat completion's `x-session-id` header is given and `model` is neither the model's id nor "
    "that session",
):
    pass


class RouteNotFound(NotFound, code="not_found", when="no such route"):
    pass


class MethodNotAllowed(
    APIError,
    status=405,
    code="method_not_allowed",
    when="the route exists, not with this method (`Allow` header lists the methods)",
):
    pass


class DuplicateQuery(
    Conflict,
    code="duplicate_query",
    when="a flash query with the same text (whitespace folded) is already registered, or is listed twice "
    "in `init`",
):
    pass


class BodyTooLarge(APIError, status=413, code="body_too_large", when="the body exceeds `--max-body-size`"):
    pass


class InvalidField(
    ValidationFailed,
    code="validation_error",
    when="the body is JSON but not an object; a field has the wrong JSON type, is missing, holds a lone "
    "surrogate or an integer outside the accepted range; an unknown data `type`; an empty flash query; a "
    "`context_size` or `window_size` the session cannot have; a chat whose last message is not the user's, "
    "or that carries a system message (`param` names the field)",
):
    pass


class InvalidRecord(
    ValidationFailed,
    code="invalid_record",
    when="a record in `data` is not valid (`param` `data[i].field`, or `data[i]` when the element is not "
    "an object)",
):
    pass


class UnsupportedMediaType(
    APIError,
    status=415,
    code="unsupported_media_type",
    when="a body is sent without a JSON `Content-Type` (`application/json` or `application/…+json`); only a "
    "body-less request to a route whose body is optional may leave the header out",
):
    pass


class HostNotAllowed(
    APIError,
    status=421,
    code="host_not_allowed",
    when="the `Host` header names a host `--allowed-hosts` does not allow (by default, when bound to a "
    "loopback address, anything but localhost, 127.0.0.1 and [::1]); HTTP and WebSocket alike",
):
    pass


class TooManyRecords(
    APIError,
    status=413,
    code="too_many_records",
    when="a push (HTTP or WebSocket) carries more than `--max-records-per-push` records (`param` `data`)",
):
    pass


class TextTooLong(
    ValidationFailed,
    code="text_too_long",
    when="a prompt, question, flash query or appended text is longer than 131072 bytes of UTF-8 (`param` "
    "names the field); checked before it is tokenized",
):
    pass


class MaxSessions(TooManyRequests, code="max_sessions", when="`init` while `--max-sessions` sessions exist"):
    pass


class TooManyGenerates(
    TooManyRequests,
    code="max_generates",
    when="a `generate` or chat completion while `--max-generates-per-session` of the session's (default 4) "
    "or `--max-generates` in all (default 32) are in flight; `Retry-After: 1`. Cached answers are not "
    "counted",
):
    pass


class MaxFlashQueries(
    TooManyRequests,
    code="max_flash_queries",
    when="`init` lists more than 20 flash queries (`param` `flash`), or `POST …/flash` when the session "
    "already has 20 (`param` `query`)",
):
    pass


class InternalError(
    APIError,
    status=500,
    error_type="server_error",
    code="internal_error",
    when="a server bug (logged with its traceback); never caused by bad input",
):
    pass


class EngineNotReady(
    ServiceUnavailable,
    code="engine_not_ready",
    when="the model is loading (or failed to load), or the server is stopping; `Retry-After: 5`",
):
    pass


class EngineClosed(
    ServiceUnavailable, code="engine_closed", when="the engine was closed while the request ran (shutdown)"
):
    pass


class GenerateFailed(
    ServiceUnavailable,
    code="generate_failed",
    when="a generation could not finish: the session was deleted, the question no longer fits, decoding "
    "failed, or the server is stopping",
):
    pass


class GenerateTimeout(
    ServiceUnavailable,
    code="timeout",
    when="a non-streamed `generate` did not finish within `--generate-timeout` (600 s), or a streamed one "
    "sent nothing for that long (then as its last frame)",
):
    pass


class KVMemoryExhausted(
    InsufficientStorage,
    code="kv_memory_exhausted",
    when="`init` whose KV cache does not fit in `--max-kv-memory` beside the sessions that exist; the "
    "message gives the bytes needed, in use and the budget",
):
    pass


class ContextAllocFailed(
    InsufficientStorage,
    code="out_of_memory",
    when="llama.cpp could not allocate the session's context (the machine is out of memory for it)",
):
    pass


class StateWriteFailed(
    InsufficientStorage,
    code="state_write_failed",
    when="with `--state-dir`, the session's files could not be written (a full disk, a read-only "
    "file system); a push answered so queued nothing",
):
    pass


class NoStateDir(
    Conflict,
    code="no_state_dir",
    when="`save` on a server started without `--state-dir`: there is nowhere to save to",
):
    pass


class InvalidSessionFile(
    ValidationFailed,
    code="invalid_session_file",
    when="`import` of a body that is not a session file (`GET .../export`); the message gives the line",
):
    pass


@contextmanager
def state_write_errors() -> Iterator[None]:
    """A failed write of a session's files as the API error."""
    try:
        yield
    except OSError as exc:
        raise StateWriteFailed(f"could not write the session's files: {exc}") from exc


class ClientGone(Exception):
    """The client closed the connection before its answer was ready; the work was cancelled.
    Nobody reads the response: it is logged and counted as 499 (nginx's convention)."""


def catalogue() -> list[type[APIError]]:
    """Every error the server answers with, by status then code."""
    leaves: list[type[APIError]] = []
    pending: list[type[APIError]] = [APIError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.when:
            leaves.append(cls)
    return sorted(leaves, key=lambda cls: (cls.status_code, cls.code))


def error_body(message: str, error_type: str, code: str, param: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "code": code, "param": param}}


def error_response(exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


def _param_of(exc: BaseException) -> str | None:
    """``ParamError`` args are (message, param, index); index >= 0 places a flash query in an init list."""
    _message, param, index = (*exc.args, None, None, None)[:3]
    if isinstance(index, int) and index >= 0:
        return f"flash[{index}].{param}"
    return param if isinstance(param, str) and param else None


def translate_core_error(exc: BaseException) -> APIError | None:
    """The API error for an exception raised by ``streaminfer._core``, else None."""
    from streaminfer import _core

    message = str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, _core.RecordError):
        _message, index, field = (*exc.args, None, None, None)[:3]
        param = None
        if isinstance(index, int):
            param = f"data[{index}]" + (f".{field}" if field else "")
        return InvalidRecord(message, param=param)
    if isinstance(exc, _core.ContextFullError):
        _message, n_tokens, n_available = (*exc.args, None, None, None)[:3]
        if isinstance(n_tokens, int) and isinstance(n_available, int):
            message = f"{message} ({n_tokens} tokens requested, {n_available} available in the context)"
        return ContextFull(message)
    if isinstance(exc, _core.DuplicateError):
        return DuplicateQuery(message, param=_param_of(exc))
    if isinstance(exc, _core.LimitError):
        return MaxFlashQueries(message, param=_param_of(exc))
    if isinstance(exc, _core.ParamError):
        return InvalidField(message, param=_param_of(exc))
    if isinstance(exc, _core.SessionClosedError):
        return SessionNotFound(message)
    if isinstance(exc, _core.ContextAllocError):
        return ContextAllocFailed(message)
    if isinstance(exc, _core.EngineClosedError):
        return EngineClosed(message or "the engine is closed")
    if isinstance(exc, (ValueError, TypeError, OverflowError)):
        return InvalidField(message)
    return None


@contextmanager
def core_errors(param: str | None = None) -> Iterator[None]:
    """Raise the API error matching any core exception raised inside the block.

    ``param`` names the request field a plain ValueError is about.
    """
    try:
        yield
    except APIError:
        raise
    except (ValueError, TypeError, OverflowError, RuntimeError) as exc:
        api = translate_core_error(exc)
        if api is None:
            raise
        if api.param is None and param is not None:
            api.param = param
        raise api from exc


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, wrong method), in the API's shape."""
    assert isinstance(exc, HTTPException)
    error: APIError
    if exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:  # Starlette's router raises 404 and 405 only
        error = RouteNotFound(f"no route for {request.method} {request.url.path}")
    return JSONResponse(error.body(), status_code=error.status_code, headers=exc.headers)


async def handle_client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=499)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("internal server error"))


def exception_handlers() -> dict[Any, Any]:
    return {
        APIError: handle_api_error,
        HTTPException: handle_http_exception,
        ClientGone: handle_client_gone,
        Exception: handle_unexpected,
    }
