"""Query-string secrets never reach the server's log: WebSocket handshakes, access lines, refusals."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import httpx
import pytest
from api_server import serving
from polling import WAIT_S, wait_for
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from streaminfer.server.log_redaction import REDACTED, RedactSecrets, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"WebSocket /v1/ws?api_key=abc" 403', f'"WebSocket /v1/ws?api_key={REDACTED}" 403'),
        ("/p?a=1&access_token=t0k&b=2", f"/p?a=1&access_token={REDACTED}&b=2"),
        ("/p?api%5Fkey=abc", f"/p?api%5Fkey={REDACTED}"),
        ("/p?Client_Secret=s&x=y", f"/p?Client_Secret={REDACTED}&x=y"),
        ("/p?page=2&limit=10", "/p?page=2&limit=10"),
        ("no query here", "no query here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_filter_rewrites_message_and_arguments() -> None:
    args = ("1.2.3.4:5", "/ws?token=zz")
    message = '%s - "WebSocket %s" 403'
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, args, None)
    assert RedactSecrets().filter(record) is True
    assert "zz" not in record.getMessage() and REDACTED in record.getMessage()


def test_api_key_never_logged(model_path: Path) -> None:
    key = "logkey-" + secrets.token_hex(12)
    wrong = "wrongkey-" + secrets.token_hex(12)
    # debug: uvicorn's access log is on too, and every handshake is logged.
    with serving(model_path, "--api-key", key, "--log-level", "debug", api_key=key) as server:
        with server.client() as client:
            sid = client.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"]
            url = f"{server.ws_base}/v1/sessions/{sid}/ws"
            with connect(f"{url}?api_key={key}", open_timeout=WAIT_S) as ws:
                ws.recv(timeout=WAIT_S)
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{url}?api_key={wrong}", open_timeout=WAIT_S)
            assert refused.value.response.status_code == 401
            # HTTP routes do not accept the query key, but a client may still send one.
            bare = httpx.get(f"{server.base_url}/v1/sessions?api_key={key}", trust_env=False, timeout=WAIT_S)
            assert bare.status_code == 401
            client.delete(f"/v1/sessions/{sid}")
            # The handshakes were logged (so the check below is about their content).
            handshakes = "WebSocket /v1/sessions/"
            wait_for(lambda: server.log().count(handshakes) >= 2 or None, what="the handshakes' log lines")
        # The launcher writes the command line (key included) first: the server's output is the rest.
        log = "\n".join(line for line in server.log().splitlines() if not line.startswith("$ "))
    assert key not in log
    assert wrong not in log
    assert REDACTED in log
