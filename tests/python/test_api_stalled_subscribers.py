"""Subscribers that stop reading: the server keeps a bounded backlog for each, drops the
oldest events past it and counts every one, and the subscribers that read get every event.

A socket nobody reads absorbs about 3 MB before the server's writes to it block (the
kernel grows its send buffer to 4 MB), far more than the model produces in a test. So
the server runs in this process (bench.fanout_cost.in_process_server: the real app on
uvicorn on loopback with the tiny model), and the session's events are handed to its
event hub as the core would hand them, thousands of large ones, in steps that the
reading subscriber keeps up with. From the hub on, everything is the server's own:
fan-out, SSE and WebSocket writers, sockets. Two clients connect and never read (an SSE
stream and a WebSocket), one reads an SSE stream. Then the session is deleted, which
ends every stream behind its backlog, and the stalled clients read what the server kept
for them: the newest events, in order, after a gap as long as the drops it counted.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
from api_server import sse_events
from polling import WAIT_S, wait_for

from bench.fanout_cost import in_process_server
from streaminfer.server import launch
from streaminfer.server.hub import EventHub

BACKLOG = 256  # events buffered per subscriber (docs/api.md, "Server-sent events")
EVENTS = 5000
STEP = 50  # events handed to the hub at once; the reading subscriber catches up in between
ANSWER = "x" * 2000  # large events: 10 MB in all, three times what a stalled socket absorbs
RECEIVE_BUFFER = 4096


def _stalled_socket(port: int, request: bytes) -> socket.socket:
    """Connected with a small receive buffer; sends ``request`` and reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.connect((launch.HOST, port))
    sock.sendall(request)
    return sock


def _read_to_end(sock: socket.socket, done: bytes) -> bytes:
    """Everything the server sends until ``done`` (its last bytes) arrives."""
    sock.settimeout(WAIT_S)
    received = bytearray()
    while not received.endswith(done):
        chunk = sock.recv(1 << 16)
        assert chunk, "the server closed the connection before the end of the stream"
        received += chunk
    sock.close()
    return bytes(received)


def _ws_messages(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(opcode, payload) of the server's frames (unmasked, unfragmented) after the handshake."""
    data = memoryview(raw)[raw.index(b"\r\n\r\n") + 4 :]
    i = 0
    while i + 2 <= len(data):
        opcode, length, i = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            length, i = int.from_bytes(data[i : i + width], "big"), i + width
        yield opcode, bytes(data[i : i + length])
        i += length


def _sse_versions(raw: bytes) -> list[int]:
    answers = re.findall(rb'^data: (\{"type":"flash_ready".*)$', raw, re.MULTILINE)
    return [json.loads(answer)["data_version"] for answer in answers]


def _ws_versions(raw: bytes) -> list[int]:
    messages = [json.loads(payload) for opcode, payload in _ws_messages(raw) if opcode == 0x1]
    return [m["data"]["data_version"] for m in messages if m["type"] == "flash_ready"]


def _read_live(base: str, sid: str, versions: list[int]) -> None:
    with (
        httpx.Client(base_url=base, trust_env=False, timeout=WAIT_S) as http,
        http.stream("GET", f"/v1/sessions/{sid}/events") as response,
    ):
        for event, data, _ in sse_events(response.iter_lines()):
            if event == "flash_ready" and data is not None:
                versions.append(int(data["data_version"]))


def _hand_over(hub: EventHub, sid: str, versions: range) -> None:
    for version in versions:
        hub.dispatch(
            {
                "type": "flash_ready",
                "session_id": sid,
                "id": 1,
                "query": "Where does the price go?",
                "value": ANSWER,
                "confidence": 0.5,
                "data_version": version,
                "evaluated_at": 1795309914197,
            }
        )


def _wait_for_count(versions: list[int], count: int) -> None:
    wait_for(lambda: len(versions) == count, what=f"{count} events at the reading subscriber", interval=0.01)


def _missed_newest_kept(versions: list[int], who: str) -> int:
    """How many events ``who`` missed; it kept the newest, in order."""
    assert versions, f"{who}: no event at all"
    assert versions == sorted(set(versions)), f"{who}: events out of order or repeated"
    assert versions[-1] == EVENTS, f"{who}: the newest event was not kept"
    gaps = [b - a - 1 for a, b in itertools.pairwise(versions) if b != a + 1]
    assert len(gaps) == 1, f"{who}: events dropped other than the oldest of a backlog: {gaps}"
    return EVENTS - len(versions)


def test_stalled_subscribers_lose_their_oldest_events_and_hold_back_no_one(tiny_model_path: Path) -> None:
    with (
        in_process_server(tiny_model_path) as (port, loop, hub),
        httpx.Client(base_url=f"http://{launch.HOST}:{port}", trust_env=False, timeout=WAIT_S) as client,
    ):
        sid = client.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"]
        path = f"/v1/sessions/{sid}"
        base = str(client.base_url).rstrip("/")
        host = f"Host: {launch.HOST}:{port}\r\n"
        stalled_sse = _stalled_socket(port, f"GET {path}/events HTTP/1.1\r\n{host}\r\n".encode())
        key = base64.b64encode(os.urandom(16)).decode()
        stalled_ws = _stalled_socket(
            port,
            f"GET {path}/ws HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
        )
        live: list[int] = []
        reader = threading.Thread(target=_read_live, args=(base, sid, live), daemon=True)
        reader.start()
        wait_for(lambda: client.get("/v1/internal/stats").json()["subscribers"] == 3, what="3 subscribers")

        for start in range(1, EVENTS + 1, STEP):
            loop.call_soon_threadsafe(_hand_over, hub, sid, range(start, start + STEP))
            _wait_for_count(live, start + STEP - 1)
            stats = client.get("/v1/internal/stats").json()
            assert stats["largest_backlog"] <= BACKLOG, stats
        assert live == list(range(1, EVENTS + 1)), "the reading subscriber missed events"
        stats = client.get("/v1/internal/stats").json()
        assert stats["largest_backlog"] == BACKLOG, stats

        assert client.delete(path).status_code == 200  # ends every stream behind its events
        missed = _missed_newest_kept(_sse_versions(_read_to_end(stalled_sse, b"0\r\n\r\n")), "stalled SSE")
        ws_raw = _read_to_end(stalled_ws, b"session deleted")  # the close frame's reason
        missed += _missed_newest_kept(_ws_versions(ws_raw), "stalled WebSocket")
        reader.join(WAIT_S)
        after = client.get("/v1/internal/stats").json()
        assert after["subscribers"] == 0
        assert after["events_dropped"] == missed  # every event delivered or counted, none twice
