"""The client SDK (``streaminfer.client``) against real servers: every route as a typed
method, errors as the documented hierarchy, retries while the model loads, and SSE and
WebSocket subscriptions that come back after the server restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import typing
from pathlib import Path
from typing import Any

import pytest
from api_server import API_KEYS, RunningServer, records, serving
from engine_helpers import QUESTION
from polling import wait_for

from streaminfer.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    RetryPolicy,
    StreamBufferFullError,
    StreamOptions,
)
from streaminfer.client import types as t
from streaminfer.server import launch, responses
from streaminfer.server.shapes import type_name

FAST = RetryPolicy(max_retries=30, initial_delay=0.05, max_delay=0.5)


def quick_delays() -> typing.Generator[float, None, None]:
    while True:
        yield 0.2


def answered(session: Any) -> t.FlashList:
    def ready() -> t.FlashList | None:
        listed = session.flash()
        current = listed.current_data_version
        return (
            listed if all(q.has_answer and q.data_version == current for q in listed.flash_queries) else None
        )

    return wait_for(ready, what="fresh flash answers")


def test_every_route_answers_a_typed_object(api_server: RunningServer) -> None:
    with Client(api_server.base_url + "/v1", api_server.api_key) as client:
        assert client.health().status == "ok"
        assert client.models()[0].object == "model"
        session = client.create_session("ohlcv", flash=[QUESTION], window_size=12)
        assert session.created is not None and session.created.flash_queries == 1
        pushed = session.push(records("ohlcv", 12))
        assert isinstance(pushed, t.PushResult) and pushed.pushed == 12
        flash = answered(session).flash_queries[0]
        assert session.state().data_count == 12
        assert session.status().statistics.total_enqueued == 12
        stats = session.stats()
        assert stats.count == 12 and "push" in stats.latency and stats.values
        assert session.slots().slots[0].name == "prefix"
        cached = session.generate(QUESTION)
        assert cached.from_cache and cached.text == flash.value
        frames = list(session.generate_stream("What is the last close?", max_tokens=6))
        assert isinstance(frames[-1], t.GenerateDone) and frames[:-1]
        assert "".join(f.token for f in frames[:-1] if isinstance(f, t.GenerateToken)) == frames[-1].text
        added = session.add_flash("What is the last volume?", max_tokens=4)
        assert session.remove_flash(added.id).remaining == 1
        chat = client.chat(session.id, [{"role": "user", "content": QUESTION}])
        assert chat.choices[0].message.content == flash.value and chat.streaminfer.from_cache
        assert session.append("note: market closed").n_tokens_added > 0
        copy = client.import_session(session.export())
        assert copy.id != session.id and copy.id in {s.session_id for s in client.sessions().sessions}
        assert client.server_stats().sessions >= 2
        assert "streaminfer_sessions" in client.metrics()
        for s in (session, copy):
            s.delete()
        with pytest.raises(NotFoundError) as missing:
            session.state()
        assert (missing.value.code, missing.value.param) == ("session_not_found", "session_id")


# Client types named otherwise on the server, and fields one side has and the other not.
WIRE_NAMES = {
    "ChatMessage": "ChatAnswer",
    "Connected": "ConnectedEvent",
    "FlashAnswer": "FlashReadyEvent",
    "DataUpdated": "DataUpdatedEvent",
    "SessionError": "SessionErrorEvent",
}
CLIENT_ONLY = {"WindowStats": {"values"}}  # the type's own statistics, gathered from the other keys
WIRE_ONLY = {"FlashList": {"queries"}, "GenerateToken": {"done"}, "GenerateDone": {"done"}}


def test_types_mirror_the_server_response_shapes() -> None:
    """Each client type has the fields of the server's response shape (their one home:
    ``streaminfer.server.responses``), so a field the server adds or renames shows here."""
    checked = 0
    for name in t.__all__:
        cls = getattr(t, name)
        shape = getattr(responses, WIRE_NAMES.get(name, name), None)
        if not dataclasses.is_dataclass(cls) or shape is None:
            continue
        wire = set(typing.get_type_hints(shape)) - WIRE_ONLY.get(name, set())
        if name in WIRE_NAMES and name != "ChatMessage":
            wire.discard("type")  # an event's type is its class
        ours = {f.name for f in dataclasses.fields(cls)} - CLIENT_ONLY.get(name, set())
        assert ours == wire, f"{name} vs {type_name(shape)}"
        checked += 1
    assert checked >= 25


def test_errors_map_to_the_documented_hierarchy(
    api_server: RunningServer, auth_server: RunningServer
) -> None:
    with Client(api_server.base_url) as client:
        with pytest.raises(BadRequestError) as bad:
            client.create_session("candles")
        assert (bad.value.status_code, bad.value.code, bad.value.param) == (422, "validation_error", "type")
        session = client.create_session("iot", flash=["Is it hot?"])
        with pytest.raises(ConflictError):
            session.add_flash("Is it  hot?")
        with pytest.raises(BadRequestError) as refused:
            session.push([{"sid": "a", "val": 1.0}])
        assert refused.value.code == "invalid_record"
        session.delete()
    with Client(auth_server.base_url, api_key="") as anonymous, pytest.raises(AuthenticationError):
        anonymous.sessions()
    gone = f"http://{launch.HOST}:{launch.free_port()}"
    nowhere = Client(gone, retry=RetryPolicy(max_retries=2, initial_delay=0.01))
    with nowhere, pytest.raises(APIConnectionError):
        nowhere.health()


def test_base_url_and_key_come_from_the_environment(
    auth_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMINFER_BASE_URL", auth_server.base_url)
    monkeypatch.setenv("STREAMINFER_API_KEY", API_KEYS[1])
    with Client() as client:
        assert client.sessions().max_sessions >= 1


def test_calls_are_retried_while_the_server_starts(model_path: Path) -> None:
    """Refused connections (not listening yet), then 503 engine_not_ready (loading): sent again."""
    patient = RetryPolicy(max_retries=120, initial_delay=0.1, max_delay=1.0)
    with serving(model_path, ready=False) as server, Client(server.base_url, retry=patient) as client:
        assert client.sessions().count == 0


def test_stream_and_events_come_back_after_a_kill_and_restart(model_path: Path, tmp_path: Path) -> None:
    """kill -9 under an open stream() that keeps pushing: the stream reconnects by itself and
    every record it was given is counted by the server exactly once, or reported."""
    port = launch.free_port()
    options = ("--state-dir", str(tmp_path / "state"), "--fsync", "always")
    rows = records("ohlcv", 400)
    seen: list[t.SessionEvent] = []

    async def run() -> tuple[Any, int]:
        with serving(model_path, *options, port=port) as first:
            async with AsyncClient(first.base_url, retry=FAST) as client:
                session = await client.create_session("ohlcv", flash=[QUESTION], window_size=16)
                events = asyncio.create_task(collect(session.events(), seen))
                await until(lambda: bool(seen), "the SSE subscription's Connected")
                opts = StreamOptions(reconnect_delays=quick_delays)
                async with session.stream(opts) as stream:
                    for i in range(0, 200, 4):
                        await stream.push(rows[i : i + 4])
                    await asyncio.sleep(0.05)  # some in flight, some acknowledged
                    first.process.send_signal(signal.SIGKILL)
                    first.process.wait()
                    for i in range(200, 400, 4):  # pushed while the server is down
                        await stream.push(rows[i : i + 4])
                    with serving(model_path, *options, port=port):
                        await stream.flush(timeout=300)
                        reconnected = lambda: sum(isinstance(e, t.Connected) for e in seen) == 2  # noqa: E731
                        await until(reconnected, "the SSE subscription back")  # on its own backoff
                        status = await session.status()
                        await session.delete()
                        await asyncio.wait_for(events, 60)  # ends with the session
                    return stream.stats, status.statistics.total_enqueued + status.statistics.total_dropped

    stats, received = asyncio.run(run())
    assert stats.connects == 2
    assert stats.dropped_by_client == 0
    assert stats.lost == 0  # --fsync always: an acknowledged record survives kill -9
    assert received == len(rows), stats  # each record counted once: none lost, none twice
    assert stats.pushed + stats.dropped_by_server + stats.delivered_in_doubt == len(rows)
    assert sum(isinstance(e, t.Connected) for e in seen) == 2  # the SSE subscription came back too


async def until(predicate: typing.Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def collect(events: typing.AsyncIterator[t.SessionEvent], into: list[t.SessionEvent]) -> None:
    async for event in events:
        into.append(event)


@pytest.mark.parametrize("on_overflow", ["drop", "raise"])
def test_a_full_buffer_drops_and_counts_or_raises(model_path: Path, on_overflow: str) -> None:
    with serving(model_path) as server, Client(server.base_url) as client:
        session = client.create_session("ohlcv")
        overflow = typing.cast(typing.Literal["drop", "raise"], on_overflow)
        options = StreamOptions(buffer_size=20, on_overflow=overflow, reconnect_delays=quick_delays)
        with session.stream(options) as stream:
            stream.push(records("ohlcv", 8))
            stream.flush(timeout=60)
            server.stop()
            stream.push(records("ohlcv", 16))  # held: the buffer has room for 20
            if on_overflow == "raise":
                with pytest.raises(StreamBufferFullError):
                    stream.push(records("ohlcv", 8))
                assert stream.stats.dropped_by_client == 0
            else:
                stream.push(records("ohlcv", 8))
                assert stream.stats.dropped_by_client == 8
            assert stream.stats.buffered == 16 and stream.stats.pushed == 8
