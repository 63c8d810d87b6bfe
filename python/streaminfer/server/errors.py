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
    """An error with a status code, answered in the API error shape."""

    status_code: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    default_code: ClassVar[str | None] = None

    def __init_subclass__(
        cls, *, status: int, error_type: str = "invalid_request_error", code: str | None = None
    ) -> None:
        super().__init_subclass__()
        cls.status_code, cls.error_type, cls.default_code = status, error_type, code

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code: str | int | None = code if code is not None else self.default_code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.code, self.param)


class BadRequest(APIError, status=400, code="bad_request"):
    """The body is not JSON, or what it asks does not fit the context."""


class Unauthorized(APIError, status=401, error_type="authentication_error", code="invalid_api_key"):
    """No API key, or not one of the server's."""


class NotFound(APIError, status=404, error_type="not_found_error", code="not_found"):
    """An unknown route, session or flash query."""


class Conflict(APIError, status=409, error_type="conflict_error", code="duplicate"):
    """The flash query is already registered."""


class PayloadTooLarge(APIError, status=413, code="body_too_large"):
    """The body or frame is over the size limit."""


class ValidationFailed(APIError, status=422, code="validation_error"):
    """A field has the wrong JSON type, or a value the core refuses."""


class TooManyRequests(APIError, status=429, error_type="rate_limit_error", code="limit_reached"):
    """A count limit: sessions, or flash queries per session."""


class ServiceUnavailable(APIError, status=503, error_type="service_unavailable", code="engine_unavailable"):
    """The engine is loading, stopping or closed, or a generation failed."""


def error_body(message: str, error_type: str, code: str | int | None, param: str | None) -> dict[str, Any]:
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
        return ValidationFailed(message, param=param, code="invalid_record")
    if isinstance(exc, _core.ContextFullError):
        _message, n_tokens, n_available = (*exc.args, None, None, None)[:3]
        if isinstance(n_tokens, int) and isinstance(n_available, int):
            message = f"{message} ({n_tokens} tokens requested, {n_available} available in the context)"
        return BadRequest(message, code="context_full")
    if isinstance(exc, _core.DuplicateError):
        return Conflict(message, param=_param_of(exc), code="duplicate_query")
    if isinstance(exc, _core.LimitError):
        return TooManyRequests(message, param=_param_of(exc), code="max_flash_queries")
    if isinstance(exc, _core.ParamError):
        return ValidationFailed(message, param=_param_of(exc))
    if isinstance(exc, _core.SessionClosedError):
        return NotFound(message, code="session_not_found")
    if isinstance(exc, _core.EngineClosedError):
        return ServiceUnavailable(message or "the engine is closed", code="engine_closed")
    if isinstance(exc, (ValueError, TypeError, OverflowError)):
        return ValidationFailed(message)
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


_HTTP_TYPES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "body_too_large"),
}


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request_error", None))
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse(
        error_body(message, error_type, code, None), status_code=exc.status_code, headers=exc.headers
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body("internal server error", "server_error", "internal_error", None), status_code=500
    )


def exception_handlers() -> dict[Any, Any]:
    return {
        APIError: handle_api_error,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected,
    }
