"""JSON shapes written once as Python types: checked on the way in, and described as JSON Schema.

A request body is a ``TypedDict`` (schemas.py), a response body too
(responses.py). ``parse`` checks a decoded JSON value against such a type
and ``json_schema`` writes the same type as JSON Schema for the OpenAPI
document (openapi.py), so that the document and the server cannot disagree.

The types a shape may use: ``str``, ``int``, ``float``, ``bool``, ``None``,
``Any``, ``Literal[...]``, ``list[T]``, ``dict[str, T]``, unions, nested
``TypedDict`` classes, and ``Annotated[T, "description", Ref(name)]``: a
string is the field's description, a ``Ref`` names a schema the document
defines elsewhere (the record types, which the core describes), and such a
value is passed through unchecked, since its checks are the core's.
Shapes check JSON types only: values are the core's (docs/api.md, "Validation:
who checks what").
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union

from streaminfer.server.errors import InvalidField

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


@dataclass(frozen=True)
class Ref:
    """A value whose schema is ``#/components/schemas/<name>``, checked by the core, not here."""

    name: str


_OPEN_SHAPES: set[type] = set()


def open_shape(shape: type) -> None:
    """Declare a response shape that carries more keys than it names (they are described in its text)."""
    _OPEN_SHAPES.add(shape)


def type_name(value: Any) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def invalid(param: str, message: str) -> InvalidField:
    return InvalidField(f"{param}: {message}" if param else message, param=param or None)


# -- reading a type -------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    tp: Any
    required: bool
    description: str | None


@cache
def _unwrap(tp: Any) -> tuple[Any, str | None, Ref | None]:
    """(the bare type, its description, its Ref) of a possibly ``Annotated`` type."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        doc = next((m for m in meta if isinstance(m, str)), None)
        ref = next((m for m in meta if isinstance(m, Ref)), None)
        return base, doc, ref
    return tp, None, None


@cache
def _fields(shape: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(shape, include_extras=True)
    required: frozenset[str] = getattr(shape, "__required_keys__", frozenset())
    out = []
    for name, hint in hints.items():
        _, doc, _ = _unwrap(hint)
        out.append(_Field(name, hint, name in required, doc))
    return tuple(out)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _json_kinds(tp: Any) -> list[str]:
    """The JSON type names a (bare) type accepts, for messages."""
    tp, _, _ = _unwrap(tp)
    if _is_union(tp):
        return [kind for arg in typing.get_args(tp) for kind in _json_kinds(arg)]
    if typing.is_typeddict(tp) or typing.get_origin(tp) is dict:
        return ["an object"]
    if typing.get_origin(tp) is list:
        return ["an array"]
    if typing.get_origin(tp) is Literal:
        return [" or ".join(repr(v) for v in typing.get_args(tp))]
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "null"}
    return [names.get(tp, "a value")]


# -- parse ----------------------------------------------------------------------


def parse(value: Any, tp: Any, param: str = "") -> Any:
    """``value`` (from json.loads) checked against ``tp``; a 422 naming ``param`` when it does not fit.

    Optional object fields that are absent or ``null`` are left out of the
    result (the core then applies its default); integers are saturated to
    64 bits; strings must encode as UTF-8 (a lone surrogate does not).
    """
    tp, _, ref = _unwrap(tp)
    if ref is not None or tp is Any:
        return value
    if _is_union(tp):
        for arg in typing.get_args(tp):
            if _accepts(arg, value):
                return parse(value, arg, param)
        raise _wrong_type(param, tp, value)
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            raise _wrong_type(param, tp, value)
        out = {}
        for field in _fields(tp):
            item = value.get(field.name)
            where = f"{param}.{field.name}" if param else field.name
            if item is None:
                if field.required:
                    raise invalid(where, "this field is required")
                continue
            out[field.name] = parse(item, field.tp, where)
        return out
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise _wrong_type(param, tp, value)
        (item_tp,) = typing.get_args(tp)
        item_bare, _, item_ref = _unwrap(item_tp)
        if item_ref is not None or item_bare is Any:  # records: the core's to check, one by one
            return value
        return [parse(item, item_tp, f"{param}[{i}]") for i, item in enumerate(value)]
    if origin is Literal:
        if not _accepts(tp, value) or value not in typing.get_args(tp):
            raise _wrong_type(param, tp, value)
        return value
    if not _accepts(tp, value):
        raise _wrong_type(param, tp, value)
    if tp is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(param, "string is not valid UTF-8 (lone surrogate)") from None
    elif tp is int:
        return max(_INT64_MIN, min(_INT64_MAX, value))
    elif tp is float:
        return float(value)
    return value


def _accepts(tp: Any, value: Any) -> bool:
    """Whether ``value``'s JSON type is one ``tp`` takes (its contents are parse's business)."""
    tp, _, ref = _unwrap(tp)
    if ref is not None or tp is Any:
        return True
    if _is_union(tp):
        return any(_accepts(arg, value) for arg in typing.get_args(tp))
    if typing.is_typeddict(tp) or typing.get_origin(tp) is dict:
        return isinstance(value, dict)
    if typing.get_origin(tp) is list:
        return isinstance(value, list)
    if typing.get_origin(tp) is Literal:
        return type_name(value) == type_name(typing.get_args(tp)[0])
    name = type_name(value)
    if tp is float:
        return name in ("integer", "number")
    return name == {str: "string", int: "integer", bool: "boolean", type(None): "null"}.get(tp)


def _wrong_type(param: str, tp: Any, value: Any) -> InvalidField:
    kinds = list(dict.fromkeys(_json_kinds(tp)))
    expected = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    return invalid(param, f"expected {expected}, got {type_name(value)}")


# -- JSON Schema ------------------------------------------------------------------


class SchemaWriter:
    """Writes types as JSON Schema (2020-12, as OpenAPI 3.1 uses it), collecting each
    ``TypedDict`` once under ``components`` and referring to it by name.

    Request shapes accept keys they do not name (the server ignores them);
    response shapes are closed: a response carries exactly the keys its type names.
    """

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def schema(self, tp: Any, *, response: bool) -> dict[str, Any]:
        tp, doc, ref = _unwrap(tp)
        out = self._bare(tp, response) if ref is None else {"$ref": f"#/components/schemas/{ref.name}"}
        return {**out, "description": doc} if doc else out

    def _bare(self, tp: Any, response: bool) -> dict[str, Any]:
        if tp is Any:
            return {}
        if _is_union(tp):
            members = [self.schema(arg, response=response) for arg in typing.get_args(tp)]
            simple = [m.get("type") for m in members if set(m) == {"type"}]
            if len(simple) == len(members):
                return {"type": simple}
            return {"anyOf": members}
        if typing.is_typeddict(tp):
            return self._object(tp, response)
        origin = typing.get_origin(tp)
        if origin is list:
            (item_tp,) = typing.get_args(tp)
            return {"type": "array", "items": self.schema(item_tp, response=response)}
        if origin is dict:
            _, value_tp = typing.get_args(tp)
            return {"type": "object", "additionalProperties": self.schema(value_tp, response=response)}
        if origin is Literal:
            values = list(typing.get_args(tp))
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        for kind, name in _JSON_TYPES:
            if tp is kind:
                return {"type": name}
        raise TypeError(f"no JSON Schema for {tp!r}")

    def _object(self, shape: type, response: bool) -> dict[str, Any]:
        name = shape.__name__
        if name not in self.components:
            self.components[name] = {}  # taken now, so that a shape that refers to itself ends here
            fields = _fields(shape)
            body: dict[str, Any] = {
                "type": "object",
                "properties": {f.name: self.schema(f.tp, response=response) for f in fields},
            }
            required = [f.name for f in fields if f.required]
            if required:
                body["required"] = required
            if response and shape not in _OPEN_SHAPES:
                body["additionalProperties"] = False
            if shape.__doc__:
                body["description"] = " ".join(shape.__doc__.split())
            self.components[name] = body
        return {"$ref": f"#/components/schemas/{name}"}
