"""Request body parsing and validation, with types exactly as API.md gives them.

Integers must be JSON integers (``12.0`` is refused, and so is ``true``: a
bool is not an int); floats accept integers; strings must be valid UTF-8
(no lone surrogates); NaN and infinities are refused. Every failure is a 422
naming the field (``data[3].h`` for records), except an unreadable body: 400,
or too large: 413.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from streaminfer.server.errors import BadRequest, PayloadTooLarge, ValidationFailed

INT64_MAX = (1 << 63) - 1
INT32_MAX = (1 << 31) - 1

# API.md "Data types and records": field -> kind ("float", "str", "int", "heading", "severity", "count").
RECORD_FIELDS: dict[str, dict[str, str]] = {
    "ohlcv": {"o": "float", "h": "float", "l": "float", "c": "float", "v": "float"},
    "iot": {"sid": "str", "val": "float", "lo": "float", "hi": "float"},
    "spatial": {"x": "float", "y": "float", "z": "float", "spd": "float", "hdg": "heading"},
    "event": {"src": "str", "sev": "severity", "cat": "str", "cnt": "count"},
    "vitals": {"hr": "float", "bp_s": "float", "bp_d": "float", "spo2": "float", "temp": "float"},
}
OPTIONAL_RECORD_FIELDS: dict[str, dict[str, str]] = {"ohlcv": {"sym": "str"}}
DATA_TYPES = tuple(RECORD_FIELDS)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
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


def check_int(value: Any, param: str, lo: int = -INT64_MAX, hi: int = INT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(param, f"expected an integer, got {_type_name(value)}")
    if not lo <= value <= hi:
        raise _invalid(param, f"must be between {lo} and {hi}, got {value}")
    return value


def check_float(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(param, f"expected a number, got {_type_name(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise _invalid(param, "number is out of range") from None
    if not math.isfinite(number):
        raise _invalid(param, "NaN and infinities are not allowed")
    return number


def check_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(param, f"expected a boolean, got {_type_name(value)}")
    return value


def required_str(body: dict[str, Any], key: str) -> str:
    if key not in body or body[key] is None:
        raise _invalid(key, "this field is required")
    return check_str(body[key], key)


def optional_str(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key)
    return default if value is None else check_str(value, key)


def optional_int(body: dict[str, Any], key: str, default: int, lo: int = 0, hi: int = INT32_MAX) -> int:
    value = body.get(key)
    return default if value is None else check_int(value, key, lo, hi)


def clamped_int(
    body: dict[str, Any], key: str, default: int, lo: int, hi: int, param: str | None = None
) -> int:
    """An optional integer, clamped into [lo, hi] (any integer accepted, however large)."""
    value = body.get(key)
    if value is None:
        return default
    check_int(value, param or key, -(1 << 1000), 1 << 1000)
    return max(lo, min(hi, int(value)))


def optional_bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    return default if value is None else check_bool(value, key)


def optional_str_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # a single stop string, as some clients send it
        return [check_str(value, key)]
    if not isinstance(value, list):
        raise _invalid(key, f"expected an array of strings, got {_type_name(value)}")
    return [check_str(item, f"{key}[{i}]") for i, item in enumerate(value)]


def data_type(body: dict[str, Any]) -> str:
    name = required_str(body, "type")
    if name not in RECORD_FIELDS:
        raise _invalid("type", f"unknown data type {name!r}; expected one of {', '.join(DATA_TYPES)}")
    return name


def flash_specs(
    body: dict[str, Any], default_tokens: int, max_tokens: int, key: str = "flash"
) -> list[tuple[str, int]]:
    """``flash: [{query, max_tokens?}]`` -> [(query, clamped max_tokens)]."""
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
        tokens = clamped_int(item, "max_tokens", default_tokens, 1, max_tokens, f"{param}.max_tokens")
        specs.append((query, tokens))
    return specs


def flash_query(body: dict[str, Any], param: str = "query") -> str:
    if body.get("query") is None:
        raise _invalid(param, "this field is required")
    query = check_str(body["query"], param)
    if not query.strip():
        raise _invalid(param, "must not be empty")
    return query


def _check_field(record: dict[str, Any], name: str, kind: str, param: str) -> None:
    value = record[name]
    if kind == "str":
        check_str(value, param)
    elif kind == "float":
        check_float(value, param)
    elif kind == "heading":
        if not 0.0 <= check_float(value, param) <= 360.0:
            raise _invalid(param, f"must be in [0, 360], got {value}")
    elif kind == "severity":
        check_int(value, param, 0, 4)
    elif kind == "count":
        check_int(value, param, 0, INT64_MAX)


def records(data_type_name: str, value: Any, key: str = "data") -> list[dict[str, Any]]:
    """Validate a whole batch of records; the first bad one raises 422 ``data[i].field``."""
    if value is None:
        raise _invalid(key, "this field is required (an array of records)")
    if not isinstance(value, list):
        raise _invalid(key, f"expected an array of records, got {_type_name(value)}")
    fields = RECORD_FIELDS[data_type_name]
    optional = OPTIONAL_RECORD_FIELDS.get(data_type_name, {})
    cleaned: list[dict[str, Any]] = value
    for i, record in enumerate(value):
        if not isinstance(record, dict):
            raise _invalid(f"{key}[{i}]", f"expected a record object, got {_type_name(record)}")
        for name, kind in fields.items():
            if name not in record or record[name] is None:
                message = f"required field of a {data_type_name} record is missing"
                raise _invalid(f"{key}[{i}].{name}", message)
            _check_field(record, name, kind, f"{key}[{i}].{name}")
        for name, kind in optional.items():
            if record.get(name) is not None:
                _check_field(record, name, kind, f"{key}[{i}].{name}")
        if record.get("timestamp") is not None:
            check_int(record["timestamp"], f"{key}[{i}].timestamp", 0, INT64_MAX)
        if None in record.values():  # an optional field sent as null: leave it out
            if cleaned is value:
                cleaned = list(value)
            cleaned[i] = {k: v for k, v in record.items() if v is not None}
    return cleaned
