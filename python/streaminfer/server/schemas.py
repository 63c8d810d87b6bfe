"""Request bodies: their JSON shape and types, checked here; their values, checked by the core.

The layers are described in docs/api.md ("Validation: who checks what"):
this module checks that a body is a JSON object, that each field has its
JSON type (integers must be JSON integers: ``12.0`` and ``true`` are not),
that required fields are present and strings are valid UTF-8. It checks no
value: ranges, lengths, limits and the record fields are the core's rules
(``streaminfer._core`` raises ``ParamError`` / ``RecordError``, which
errors.py turns into 422s naming the field). Every failure here is a 422
naming the field, except an unreadable body: 400, or too large: 413.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from streaminfer.server.errors import BadRequest, PayloadTooLarge, ValidationFailed

# The core takes 64-bit integers; a larger magnitude is out of every range,
# so it crosses saturated and the core refuses (or clamps) it as it would any.
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# JSON's names for the Python types json.loads returns (bool before int: a bool is an int).
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (type(None), "null"),
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _type_name(value: Any) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _invalid(param: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{param}: {message}", param=param)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing (413) anything over ``max_bytes`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes | str, *, empty_ok: bool = False) -> dict[str, Any]:
    """Decode a JSON object: 400 for bytes that are not JSON, 422 for JSON that is not an object."""
    if not raw.strip():
        if empty_ok:
            return {}
        raise BadRequest("empty body; expected a JSON object", code="invalid_json")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise ValidationFailed(f"expected a JSON object, got {_type_name(value)}")
    return value


async def read_json(request: Request, max_bytes: int, *, empty_ok: bool = False) -> dict[str, Any]:
    return parse_json_object(await read_body(request, max_bytes), empty_ok=empty_ok)


def check_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _invalid(param, f"expected a string, got {_type_name(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(param, "string is not valid UTF-8 (lone surrogate)") from None
    return value


def check_int(value: Any, param: str) -> int:
    """A JSON integer, saturated to the core's 64-bit range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(param, f"expected an integer, got {_type_name(value)}")
    return max(_INT64_MIN, min(_INT64_MAX, value))


def required_str(body: dict[str, Any], key: str) -> str:
    if key not in body or body[key] is None:
        raise _invalid(key, "this field is required")
    return check_str(body[key], key)


def optional_str(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key)
    return default if value is None else check_str(value, key)


def optional_int(body: dict[str, Any], key: str, param: str | None = None) -> int | None:
    """None when absent: the core applies its default."""
    value = body.get(key)
    return None if value is None else check_int(value, param or key)


def optional_bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(key, f"expected a boolean, got {_type_name(value)}")
    return value


def optional_str_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # a single stop string, as some clients send it
        return [check_str(value, key)]
    if not isinstance(value, list):
        raise _invalid(key, f"expected an array of strings, got {_type_name(value)}")
    return [check_str(item, f"{key}[{i}]") for i, item in enumerate(value)]


def flash_specs(body: dict[str, Any], key: str = "flash") -> list[tuple[str, int | None]]:
    """``flash: [{query, max_tokens?} | query]`` -> [(query, max_tokens or None for the core's default)]."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(key, f"expected an array of {{query, max_tokens}} objects, got {_type_name(value)}")
    specs = []
    for i, item in enumerate(value):
        param = f"{key}[{i}]"
        if isinstance(item, str):  # a bare query string
            item = {"query": item}
        if not isinstance(item, dict):
            raise _invalid(param, f"expected an object, got {_type_name(item)}")
        query = flash_query(item, f"{param}.query")
        tokens = optional_int(item, "max_tokens", f"{param}.max_tokens")
        specs.append((query, tokens))
    return specs


def flash_query(body: dict[str, Any], param: str = "query") -> str:
    if body.get("query") is None:
        raise _invalid(param, "this field is required")
    return check_str(body["query"], param)


def records(value: Any, key: str = "data") -> list[Any]:
    """The records array; each record is the core's to check (``RecordError`` names ``data[i].field``)."""
    if value is None:
        raise _invalid(key, "this field is required (an array of records)")
    if not isinstance(value, list):
        raise _invalid(key, f"expected an array of records, got {_type_name(value)}")
    return value
