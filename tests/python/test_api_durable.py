"""Durable sessions against real server processes: a restart after SIGTERM and after kill -9
brings back every session, flash query and acknowledged record; a torn log tail is cut and
reported; a state directory from another model is decoded again; export and import."""

from __future__ import annotations

import json
import resource
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import RunningServer, assert_error, create_session, records, serving
from polling import wait_for

QUESTION = "Is the last close above the first? Answer yes or no."


def drained(client: httpx.Client, sid: str) -> dict[str, Any]:
    """The session's state once its queue is empty and its flash answers are current."""

    def ready() -> dict[str, Any] | None:
        status = client.get(f"/v1/sessions/{sid}/stream/status").json()
        flash = client.get(f"/v1/sessions/{sid}/flash").json()
        current = all(q["data_version"] == flash["current_data_version"] for q in flash["queries"])
        return status if status["streaming"]["queue_size"] == 0 and current else None

    result: dict[str, Any] = wait_for(ready, timeout=120)
    return result


def snapshot(client: httpx.Client, sid: str) -> dict[str, Any]:
    status = drained(client, sid)
    flash = client.get(f"/v1/sessions/{sid}/flash").json()["queries"]
    exported = client.get(f"/v1/sessions/{sid}/export").content.splitlines()
    return {
        "context": client.get(f"/v1/sessions/{sid}/state").json()["context_text"],
        "flash": [(q["id"], q["query"], q["value"]) for q in flash],
        "window": [json.loads(line) for line in exported[1:]],
        "enqueued": status["statistics"]["total_enqueued"],
    }


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def restart(model_path: Path, state_dir: Path, *extra: str) -> Any:
    return serving(model_path, "--state-dir", str(state_dir), *extra)


def test_sigterm_restart_brings_back_sessions_flash_queries_and_windows(
    model_path: Path, state_dir: Path
) -> None:
    before: dict[str, dict[str, Any]] = {}
    with restart(model_path, state_dir) as server, server.client() as client:
        flash = [QUESTION, "Name the symbol."]
        market = create_session(client, "ohlcv", prompt="You watch a market.", flash=flash)
        sensors = create_session(client, "iot", flash=["Is any value above hi?"])
        client.delete(f"/v1/sessions/{market['session_id']}/flash/1")  # ids are kept, gaps too
        client.post(f"/v1/sessions/{market['session_id']}/flash", json={"query": "What is the last close?"})
        client.post(f"/v1/sessions/{sensors['session_id']}/stream/push", json={"data": records("iot", 6)})
        client.post(f"/v1/sessions/{sensors['session_id']}/append", json={"text": "Maintenance at noon.\n"})
        for start in range(0, 40, 8):
            pushed = client.post(
                f"/v1/sessions/{market['session_id']}/stream/push", json={"data": records("ohlcv", 8, start)}
            )
            assert pushed.json()["pushed"] == 8
        for sid in (market["session_id"], sensors["session_id"]):
            before[sid] = snapshot(client, sid)
    with restart(model_path, state_dir) as server, server.client() as client:
        listed = {s["session_id"] for s in client.get("/v1/sessions").json()["sessions"]}
        assert listed == set(before)
        for sid, then in before.items():
            now = snapshot(client, sid)
            assert now["window"] == then["window"]
            assert now["flash"] == then["flash"]  # same ids, same answers: the same KV cache
            assert now["enqueued"] == then["enqueued"]
            assert now["context"] == then["context"]
        assert "restoring saved sessions: 2 of 2 done" in server.log()


def push_storm(server: RunningServer, sid: str, acked: list[dict[str, Any]], stop: threading.Event) -> None:
    """Push batches of distinct records until the server dies; log what was acknowledged."""
    with server.client(timeout=10) as client:
        start = 0
        while not stop.is_set():
            batch = records("event", 7, start)
            try:
                response = client.post(f"/v1/sessions/{sid}/stream/push", json={"data": batch})
            except httpx.TransportError:
                return
            acked.extend(batch[: response.json()["pushed"]])
            start += 7


def test_kill9_in_a_push_storm_loses_no_acknowledged_record(model_path: Path, state_dir: Path) -> None:
    acked: list[dict[str, Any]] = []
    with restart(model_path, state_dir, "--fsync", "never") as server:
        with server.client() as client:
            sid = create_session(client, "event", window_size=24)["session_id"]
        stop = threading.Event()
        pusher = threading.Thread(target=push_storm, args=(server, sid, acked, stop))
        pusher.start()
        wait_for(lambda: len(acked) > 3000 or None, timeout=120)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        stop.set()
        pusher.join(timeout=30)
    sent_cnt = [r["cnt"] for r in acked]
    with restart(model_path, state_dir) as server, server.client() as client:
        now = snapshot(client, sid)
        window = [e["record"]["cnt"] for e in now["window"]]
        # Every acknowledged record was logged; at most the push in flight at the kill is more.
        assert len(acked) <= now["enqueued"] <= len(acked) + 7
        assert len(window) == 24
        assert window == sorted(set(window)), "a record is duplicated or out of order"
        expected = list(range(now["enqueued"] - 24, now["enqueued"]))
        assert window == expected
        # The acknowledged records still in reach of the window are in it (the push in flight
        # at the kill, when logged, slid as many older ones out).
        assert {c for c in sent_cnt if c >= now["enqueued"] - 24} <= set(window)


def test_a_failed_log_write_queues_nothing_and_pushes_go_on_once_the_disk_has_room(
    model_path: Path, state_dir: Path
) -> None:
    acked: list[dict[str, Any]] = []
    options = ("--state-dir", str(state_dir), "--fsync", "always")
    with serving(model_path, *options, file_size_limit=4096) as server, server.client() as client:
        sid = create_session(client, "event", window_size=24)["session_id"]
        push = f"/v1/sessions/{sid}/stream/push"
        while (response := client.post(push, json={"data": records("event", 5, len(acked))})).is_success:
            acked.extend(records("event", 5, len(acked)))
            assert len(acked) < 1000, "the log never reached the file size limit"
        assert assert_error(response, 507)["code"] == "state_write_failed"
        status = client.get(f"/v1/sessions/{sid}/stream/status").json()
        assert status["statistics"]["total_enqueued"] == len(acked)  # the refused push queued nothing
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        for _ in range(3):
            response = client.post(push, json={"data": records("event", 5, len(acked))})
            assert response.status_code == 200 and response.json()["pushed"] == 5, response.text
            acked.extend(records("event", 5, len(acked)))
        drained(client, sid)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
    with restart(model_path, state_dir) as server, server.client() as client:
        now = snapshot(client, sid)
        assert now["enqueued"] == len(acked)
        assert [e["record"]["cnt"] for e in now["window"]] == [r["cnt"] for r in acked[-24:]]


def segments(state_dir: Path, sid: str) -> list[Path]:
    return sorted((state_dir / "sessions" / sid).glob("seg-*.log"))


def test_a_torn_log_tail_is_cut_reported_and_the_server_starts(model_path: Path, state_dir: Path) -> None:
    with restart(model_path, state_dir) as server, server.client() as client:
        sid = create_session(client, "vitals")["session_id"]
        for start in range(0, 12, 4):
            client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("vitals", 4, start)})
        drained(client, sid)
        server.process.send_signal(signal.SIGKILL)  # no shutdown checkpoint: the log is the truth
        server.process.wait(timeout=30)
    last = segments(state_dir, sid)[-1]
    data = last.read_bytes()
    last.write_bytes(data[:-10])  # the last entry (4 records) loses its end
    with restart(model_path, state_dir) as server, server.client() as client:
        log = server.log()
        assert "torn log tail" in log and "4 records lost" in log, log
        assert len(client.get(f"/v1/sessions/{sid}/export").content.splitlines()) - 1 >= 8


def test_a_state_dir_of_another_model_is_decoded_again(
    model_path: Path, tiny_model_path: Path, state_dir: Path
) -> None:
    with restart(model_path, state_dir) as server, server.client() as client:
        sid = create_session(client, "iot", window_size=8, flash=["Any alarm?"])["session_id"]
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("iot", 8)})
        then = snapshot(client, sid)
    with restart(tiny_model_path, state_dir, "--log-level", "info") as server, server.client() as client:
        now = snapshot(client, sid)
        assert now["window"] == then["window"]
        assert [q[:2] for q in now["flash"]] == [q[:2] for q in then["flash"]]
        assert "kv.bin is of another model or build" in server.log()


def test_export_then_import_recreates_the_session(model_path: Path) -> None:
    with serving(model_path) as server, server.client() as client:
        sid = create_session(client, "spatial", flash=["Where is it heading?"])["session_id"]
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("spatial", 10)})
        then = snapshot(client, sid)
        exported = client.get(f"/v1/sessions/{sid}/export")
        assert exported.headers["content-type"].startswith("application/x-ndjson")
        imported = client.post(
            "/v1/sessions/import", content=exported.content, headers={"Content-Type": "application/x-ndjson"}
        )
        assert imported.status_code == 200, imported.text
        copy = imported.json()["session_id"]
        assert copy != sid
        now = snapshot(client, copy)
        assert now["window"] == then["window"]
        assert [q[:2] for q in now["flash"]] == [q[:2] for q in then["flash"]]
        bad = client.post("/v1/sessions/import", content=b'{"format": "nope"}\n')
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_session_file"
        assert client.post(f"/v1/sessions/{sid}/save").status_code == 409


def test_save_writes_the_kv_state(model_path: Path, state_dir: Path) -> None:
    with restart(model_path, state_dir) as server, server.client() as client:
        sid = create_session(client, "ohlcv", flash=[QUESTION])["session_id"]
        client.post(f"/v1/sessions/{sid}/stream/push", json={"data": records("ohlcv", 5)})
        drained(client, sid)
        saved = client.post(f"/v1/sessions/{sid}/save").json()
        assert saved["window_records"] == 5 and saved["kv_state_bytes"] > 0
        assert (state_dir / "sessions" / sid / "kv.bin").stat().st_size == saved["kv_state_bytes"]
