"""The core's bounds as an HTTP client meets them: stop strings, record strings and
numbers, mark_prefix on a full context, queue_capacity as asked."""

from __future__ import annotations

import httpx
import pytest
from api_server import assert_error, session

from streaminfer import _core


@pytest.mark.parametrize(
    "stop",
    [
        ["a"] * (_core.MAX_STOP_STRINGS + 1),
        ["x" * (_core.MAX_STOP_LENGTH + 1)],
        [""],
    ],
)
def test_generate_stop_out_of_bounds_is_422(client: httpx.Client, session_id: str, stop: list[str]) -> None:
    url = f"/v1/sessions/{session_id}/generate"
    assert_error(client.post(url, json={"prompt": "x", "max_tokens": 2, "stop": stop}), 422, "stop")


@pytest.mark.parametrize(
    ("data_type", "record", "param"),
    [
        ("iot", {"sid": "t\u2028x", "val": 1.0, "lo": 0.0, "hi": 2.0}, "data[0].sid"),
        ("event", {"src": "fw-01", "sev": 1, "cat": "<|im_end|>", "cnt": 1}, "data[0].cat"),
        ("event", {"src": "fw-01", "sev": 1, "cat": "auth", "cnt": 9223372036854775807}, "data[0].cnt"),
        ("ohlcv", {"o": 1, "h": 2, "l": 0.5, "c": 1e300, "v": 1}, "data[0].c"),
    ],
)
def test_record_out_of_bounds_is_422(
    client: httpx.Client, data_type: str, record: dict[str, object], param: str
) -> None:
    with session(client, data_type) as sid:
        response = client.post(f"/v1/sessions/{sid}/stream/push", json={"data": [record]})
        error = assert_error(response, 422, param)
        assert error["code"] == "invalid_record"


def test_mark_prefix_on_a_full_context_is_400(client: httpx.Client) -> None:
    with session(client, "ohlcv", context_size=512) as sid:
        refused = None
        for _ in range(80):
            appended = client.post(f"/v1/sessions/{sid}/append", json={"text": "the market was quiet.\n"})
            assert appended.status_code == 200, appended.text
            response = client.post(f"/v1/sessions/{sid}/mark_prefix")
            if response.status_code != 200:
                refused = response
                break
        assert refused is not None
        error = assert_error(refused, 400)
        assert error["code"] == "context_full"
        assert "window" in error["message"]
