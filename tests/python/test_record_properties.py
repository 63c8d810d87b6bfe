"""Property tests of record validation and formatting, for every type in the core's table
(``_core.record_types()``): a valid record becomes a line that parses back to the same
values at the precision docs/api.md gives (6 significant digits; integral values below
10^15 and integer fields exactly; strings as sent; the timestamp as the UTC time of day),
and an invalid record is refused naming the field, through ``_core`` and, for a sample,
through a push to a real server (``param`` ``data[i].field``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from api_server import RunningServer, assert_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaminfer import _core

TYPES = {t.name: t for t in _core.record_types()}
MAX_TIMESTAMP = 253_402_300_799
EXAMPLES = 150
SERVER_EXAMPLES = 25
# Identifier characters every version of the rules accepts: letters, digits, '_', '.', '-'.
SAFE_TEXT = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"),
    min_size=1,
    max_size=64,
)


def _number(field: _core.RecordField) -> st.SearchStrategy[Any]:
    low, high = field.minimum, field.maximum
    if field.kind == "int":
        return st.integers(
            int(low) if low is not None else -(2**53), int(high) if high is not None else 2**53
        )
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    integral = st.integers(
        int(low) if low is not None else -(10**15) + 1, int(high) if high is not None else 10**15 - 1
    )
    return st.one_of(floats, integral)


def valid_records(rtype: _core.RecordType) -> st.SearchStrategy[dict[str, Any]]:
    required = {f.name: SAFE_TEXT if f.kind == "str" else _number(f) for f in rtype.fields if f.required}
    optional = {f.name: SAFE_TEXT if f.kind == "str" else _number(f) for f in rtype.fields if not f.required}
    optional["timestamp"] = st.integers(0, MAX_TIMESTAMP)
    return st.fixed_dictionaries(required, optional=optional)


def parse_line(rtype: _core.RecordType, line: str) -> tuple[str | None, dict[str, str]]:
    """(time of day or None, field -> text) of a formatted line."""
    clock = None
    head, _, rest = line.partition(" ")
    if rest and ":" in head:
        clock, line = head, rest
    columns = line.split(",")
    if rtype.name == "vitals":  # blood pressure is one column, systolic/diastolic
        systolic, diastolic = columns[1].split("/")
        columns[1:2] = [systolic, diastolic]
    names = [f.name for f in rtype.fields]
    assert len(columns) <= len(names), line
    return clock, dict(zip(names, columns, strict=False))


def assert_same(field: _core.RecordField, sent: Any, text: str) -> None:
    if field.kind == "str":
        assert text == sent
    elif float(sent).is_integer() and abs(sent) < 10**15:  # integer fields above: 6 digits too
        assert int(float(text)) == sent and "e" not in text, (sent, text)
        assert float(text) == sent
    else:
        digits = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 6, (sent, text)
        assert math.isclose(float(text), sent, rel_tol=5.000001e-6, abs_tol=0.0), (sent, text)


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_a_valid_record_formats_to_a_line_that_parses_back(type_name: str) -> None:
    rtype = TYPES[type_name]

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(record=valid_records(rtype))
    def check(record: dict[str, Any]) -> None:
        text = _core.format_record(type_name, record)
        assert text.endswith("\n") and text.count("\n") == 1, text  # one line
        line = text[:-1]
        assert line == line.strip()
        clock, values = parse_line(rtype, line)
        for field in rtype.fields:
            if field.name in record:
                assert_same(field, record[field.name], values[field.name])
            else:
                assert field.name not in values
        if "timestamp" in record:
            seconds = record["timestamp"] % 86400
            hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
            assert clock == (f"{hh:02d}:{mm:02d}" if ss == 0 else f"{hh:02d}:{mm:02d}:{ss:02d}")
        else:
            assert clock is None

    check()


def _bad_value(field: _core.RecordField) -> st.SearchStrategy[Any]:
    """Values of the wrong kind or outside the field's range."""
    wrong_kind: st.SearchStrategy[Any] = st.one_of(
        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(), st.integers(), max_size=1)
    )
    if field.kind == "str":
        bad_text = st.one_of(
            st.just(""),
            st.text(min_size=65, max_size=80, alphabet="ab"),
            st.tuples(SAFE_TEXT, st.sampled_from([",", "\n", "\x00", "\x1f"])).map("".join),
            st.integers(),
        )
        return st.one_of(bad_text, wrong_kind)
    out: list[st.SearchStrategy[Any]] = [wrong_kind, st.text(max_size=5).filter(lambda s: s.strip() != "")]
    if field.kind == "int":
        out.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
    if field.minimum is not None:
        out.append(
            st.floats(
                max_value=field.minimum,
                exclude_max=True,
                allow_nan=False,
                allow_infinity=False,
                min_value=-1e300,
            )
        )
    if field.maximum is not None:
        out.append(
            st.floats(
                min_value=field.maximum,
                exclude_min=True,
                allow_nan=False,
                allow_infinity=False,
                max_value=1e300,
            )
        )
    return st.one_of(out)


def invalid_records(rtype: _core.RecordType) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """(a record with exactly one bad field, that field's name)."""
    fields = {f.name: f for f in rtype.fields}

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
        record = draw(valid_records(rtype))
        name = draw(st.sampled_from([*fields, "timestamp"]))
        if name == "timestamp":
            record[name] = draw(
                st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_TIMESTAMP + 1))
            )
        elif fields[name].required and draw(st.booleans()):
            del record[name]
        else:
            record[name] = draw(_bad_value(fields[name]))
        return record, name

    return build()


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_an_invalid_record_is_refused_naming_its_field(type_name: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(case=invalid_records(TYPES[type_name]))
    def check(case: tuple[dict[str, Any], str]) -> None:
        record, name = case
        with pytest.raises(_core.RecordError) as caught:
            _core.format_record(type_name, record)
        assert caught.value.args[2] == name, caught.value.args

    check()


@pytest.fixture(scope="module")
def pushed_sessions(api_server: RunningServer) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    with api_server.client() as client:
        ids: dict[str, str] = {}
        try:
            for name in TYPES:
                ids[name] = str(client.post("/v1/sessions/init", json={"type": name}).json()["session_id"])
            yield client, ids
        finally:
            for sid in ids.values():
                client.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_a_push_with_an_invalid_record_is_refused_with_its_param(
    type_name: str, pushed_sessions: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, ids = pushed_sessions
    rtype = TYPES[type_name]

    @settings(
        max_examples=SERVER_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(good=valid_records(rtype), case=invalid_records(rtype))
    def check(good: dict[str, Any], case: tuple[dict[str, Any], str]) -> None:
        record, name = case
        response = client.post(f"/v1/sessions/{ids[type_name]}/stream/push", json={"data": [good, record]})
        assert_error(response, 422, f"data[1].{name}")

    check()
    status = client.get(f"/v1/sessions/{ids[type_name]}/stream/status").json()
    assert status["statistics"]["total_enqueued"] == 0  # a refused push queues nothing


class Refused(Exception):
    """Raised by the accept hook: the push was valid, and queues nothing."""


def refuse(first_seq: int, count: int) -> None:
    raise Refused


def as_columns(rtype: _core.RecordType, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The records as numpy columns (NaN, or None for text, where a field is absent)."""
    columns: dict[str, Any] = {}
    for f in rtype.fields:
        values = [r.get(f.name) for r in records]
        if f.kind == "str":
            columns[f.name] = values
        else:
            columns[f.name] = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    stamps = [r.get("timestamp") for r in records]
    if all(s is not None for s in stamps):
        columns["timestamp"] = np.array(stamps, dtype=np.int64)
    else:
        columns["timestamp"] = np.array([math.nan if s is None else s for s in stamps], dtype=np.float64)
    return columns


def _bad_number(field: _core.RecordField) -> st.SearchStrategy[Any]:
    """A number outside the field's range; for an integer field, also one not whole (a whole
    float in a dict is of the wrong kind, where in a column it is a number: not drawn)."""
    low = -1e300 if field.minimum is None else field.minimum
    high = 1e300 if field.maximum is None else field.maximum
    out = [
        st.floats(min_value=-1e300, max_value=low, exclude_max=True),
        st.floats(min_value=high, max_value=1e300, exclude_min=True),
    ]
    if field.kind == "int":
        out = [s.map(lambda v: int(v) if v.is_integer() else v) for s in out]
        out.append(st.floats(low, high).filter(lambda v: not v.is_integer()))
    else:
        out.append(st.sampled_from([math.inf, -math.inf]))
    return st.one_of(out)


def numeric_cases(rtype: _core.RecordType) -> st.SearchStrategy[dict[str, Any]]:
    """Valid records, or records with one bad number: the faults a column of numbers can carry."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        record = draw(valid_records(rtype))
        numbers = [f for f in rtype.fields if f.kind != "str"]
        if numbers and draw(st.booleans()):
            f = draw(st.sampled_from(numbers))
            record[f.name] = draw(_bad_number(f))
        return record

    return build()


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_columns_are_checked_by_the_same_rules_as_dicts(type_name: str, engine: _core.Engine) -> None:
    """``push_columns`` accepts what ``push`` accepts and refuses the rest with the same message."""
    rtype = TYPES[type_name]
    session = engine.create_session(f"columns_{type_name}", type_name)

    def outcome(push: Any) -> str:
        try:
            push()
        except Refused:
            return "accepted"
        except _core.RecordError as exc:
            return str(exc)
        raise AssertionError("the accept hook was not called")

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(records=st.lists(numeric_cases(rtype), min_size=1, max_size=3))
    def check(records: list[dict[str, Any]]) -> None:
        by_dicts = outcome(lambda: session.push(records, before_accept=refuse))
        columns = as_columns(rtype, records)
        by_columns = outcome(lambda: session.push_columns(len(records), columns, before_accept=refuse))
        assert by_columns == by_dicts

    try:
        check()
    finally:
        engine.destroy_session(f"columns_{type_name}")
