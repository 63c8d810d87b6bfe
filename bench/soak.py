"""A soak: many sessions pushed to over HTTP and WebSocket, hundreds of subscribers (some
slow, some stalled), flash queries and generates throughout; then every record accounted for.

``python -m bench soak --minutes 10`` starts ``streaminfer serve`` with ``--sessions``
sessions. Each session has an HTTP pusher and a WebSocket pusher at its own rate (the
total is well above what the model decodes, so records are skipped and dropped);
``--subscribers`` SSE and WebSocket subscribers are spread over the sessions, one in
five slow (a pause after each event) and one in ten stalled (never reads). A
questioner registers flash queries, asks /generate and deletes the queries again.

At the end, with the pushers stopped and the queues drained, for every session:
``total_enqueued == items_processed + skipped + queue_size``, ``total_enqueued`` is the
sum of ``pushed`` and ``total_dropped`` the sum of ``dropped`` of every push ack the
clients got. Also recorded: responses >= 500 (must be 0), push-ack latency, and the
server's RSS every few seconds (flat within 10% after the first fifth of the run).
``tests/python/test_api_soak.py`` runs a 60-second version with the same checks.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect

from bench import OUT_DIR
from bench.stats import latency_summary
from bench.subscribers import Crowd, raise_open_files
from bench.workload import fresh_seed, ohlcv_series

QUESTIONS = ("Is the trend up?", "What was the last close?", "Is volume rising?", "Any gap?")
SAMPLE_S = 5.0  # RSS sampling period
DRAIN_S = 300.0  # the longest wait for the queues to empty at the end
STUCK_S = 20.0  # a queue that has not moved for this long is not going to


@dataclass
class Ledger:
    """What the clients saw."""

    pushed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    http_acks_ms: list[float] = field(default_factory=list)
    ws_acks_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # requests without a response

    def saw(self, label: str, status: int, text: str) -> None:
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(f"{label} -> {status}: {text[:200]}")

    def ack(self, sid: str, body: dict[str, Any]) -> None:
        self.pushed[sid] += int(body["pushed"])
        self.dropped[sid] += int(body["dropped"])


async def http_pusher(
    http: httpx.AsyncClient, sid: str, rate: float, batch: int, ledger: Ledger, stop: asyncio.Event
) -> None:
    series = itertools.cycle(ohlcv_series(500, seed=fresh_seed()))
    while not stop.is_set():
        body = {"data": [next(series) for _ in range(batch)]}
        t0 = time.perf_counter()
        try:
            response = await http.post(f"/v1/sessions/{sid}/stream/push", json=body)
        except httpx.TransportError as exc:
            ledger.failures.append(f"push {sid}: {exc!r}")
            await asyncio.sleep(1.0)
            continue
        ledger.http_acks_ms.append((time.perf_counter() - t0) * 1e3)
        ledger.saw("push", response.status_code, response.text)
        if response.status_code == 200:
            ledger.ack(sid, response.json())
        await asyncio.sleep(batch / rate)


async def ws_pusher(
    ws_base: str, sid: str, rate: float, batch: int, ledger: Ledger, stop: asyncio.Event
) -> None:
    series = itertools.cycle(ohlcv_series(500, seed=fresh_seed()))
    async with connect(f"{ws_base}/v1/sessions/{sid}/ws", max_size=None, compression=None) as ws:
        while not stop.is_set():
            frame = {"type": "push", "data": [next(series) for _ in range(batch)]}
            t0 = time.perf_counter()
            await ws.send(json.dumps(frame))
            while True:  # events of the session arrive on the same socket
                reply = json.loads(await ws.recv())
                if reply["type"] == "push_ack":
                    ledger.ws_acks_ms.append((time.perf_counter() - t0) * 1e3)
                    ledger.ack(sid, reply["data"])
                    break
                if reply["type"] == "error":
                    code = int(reply["data"].get("code", 0))
                    ledger.saw("ws push", code, reply["data"].get("message", ""))
                    break
            await asyncio.sleep(batch / rate)


async def stalled_sse(host: str, port: int, sid: str) -> None:
    """Opens the event stream and never reads it: the server must drop, not buffer."""
    _, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /v1/sessions/{sid}/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    try:
        await asyncio.Event().wait()
    finally:
        writer.close()


async def questioner(http: httpx.AsyncClient, sids: list[str], ledger: Ledger) -> None:
    """Flash queries registered and deleted, and generates, round the sessions."""
    for turn in itertools.count():
        sid = sids[turn % len(sids)]
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", f"/v1/sessions/{sid}/flash", {"query": QUESTIONS[turn % 4], "max_tokens": 4}),
            ("POST", f"/v1/sessions/{sid}/generate", {"prompt": "Summarise.", "max_tokens": 6}),
            ("GET", f"/v1/sessions/{sid}/flash", None),
        ]
        for method, path, body in calls:
            try:
                response = await http.request(method, path, json=body)
            except httpx.TransportError as exc:
                ledger.failures.append(f"{method} {path}: {exc!r}")
                continue
            ledger.saw(f"{method} {path}", response.status_code, response.text)
            if method == "GET" and response.status_code == 200:
                for item in response.json()["flash_queries"]:
                    await http.delete(f"/v1/sessions/{sid}/flash/{item['id']}")
        await asyncio.sleep(1.0)


def skipped_from_metrics(text: str) -> dict[str, int]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "streaminfer_records_skipped":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["session"]] = int(sample.value)
    return out


async def reconcile(http: httpx.AsyncClient, sids: list[str], ledger: Ledger) -> list[dict[str, Any]]:
    """Once the queues are empty, or have not moved for STUCK_S (or DRAIN_S passed): every
    session's counters and checks. A queue that stopped moving while not empty is reported."""
    deadline = time.monotonic() + DRAIN_S
    last: list[tuple[int, int]] = []
    moved_at = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - moved_at < STUCK_S:
        statuses = [(await http.get(f"/v1/sessions/{s}/stream/status")).json() for s in sids]
        now = [(s["streaming"]["queue_size"], s["statistics"]["items_processed"]) for s in statuses]
        if all(size == 0 for size, _ in now):
            break
        if now != last:
            last, moved_at = now, time.monotonic()
        await asyncio.sleep(1.0)
    skipped = skipped_from_metrics((await http.get("/metrics")).text)
    rows = []
    for sid in sids:
        status = (await http.get(f"/v1/sessions/{sid}/stream/status")).json()
        stats, queue = status["statistics"], status["streaming"]["queue_size"]
        skip = skipped.get(sid, 0)
        rows.append(
            {
                "session": sid,
                "total_enqueued": stats["total_enqueued"],
                "items_processed": stats["items_processed"],
                "skipped": skip,
                "skipped_in_status": stats.get("skipped"),
                "queue_size": queue,
                "total_dropped": stats["total_dropped"],
                "clients_pushed": ledger.pushed[sid],
                "clients_dropped": ledger.dropped[sid],
                "balanced": stats["total_enqueued"] == stats["items_processed"] + skip + queue,
                "enqueued_as_acked": stats["total_enqueued"] == ledger.pushed[sid],
                "dropped_as_acked": stats["total_dropped"] == ledger.dropped[sid],
                "skipped_agrees": stats.get("skipped", skip) == skip,
            }
        )
    return rows


async def soak(
    base: str, pid: int, seconds: float, sessions: int, subscribers: int, rate_scale: float = 1.0
) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    ws_base = f"ws://{host}:{port}"
    ledger = Ledger()
    proc = psutil.Process(pid)
    rss: list[tuple[float, int]] = []
    limits = httpx.Limits(max_connections=4 * sessions + 16)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits, headers=headers) as http:
        sids = []
        for i in range(sessions):
            init: dict[str, Any] = {"type": "ohlcv"}
            if i % 2 == 0:
                init["flash"] = [{"query": QUESTIONS[i % 4], "max_tokens": 4}]
            response = await http.post("/v1/sessions/init", json=init)
            ledger.saw("init", response.status_code, response.text)
            response.raise_for_status()
            sids.append(response.json()["session_id"])
        crowds = []
        for i in range(subscribers):
            sid = sids[i % sessions]
            if i % 10 == 9:
                continue  # the stalled ones, below
            crowds.append(Crowd(base, sid, 1, delay_s=0.5 if i % 5 == 4 else 0.0, offset=i))
        await asyncio.gather(*(c.connect() for c in crowds))
        tasks = [
            asyncio.ensure_future(stalled_sse(host, int(port), sids[i % sessions]))
            for i in range(9, subscribers, 10)
        ]
        # Pushers finish their push in flight when told to stop (every ack counted);
        # everything else is cancelled.
        stop = asyncio.Event()
        pushers: list[asyncio.Future[None]] = []
        for i, sid in enumerate(sids):
            rate = rate_scale * (2.0 + 4.0 * (i % 4))  # records per second, per pusher
            batch = 1 + i % 4
            pushers.append(asyncio.ensure_future(http_pusher(http, sid, rate, batch, ledger, stop)))
            pushers.append(asyncio.ensure_future(ws_pusher(ws_base, sid, rate, batch, ledger, stop)))
        tasks.append(asyncio.ensure_future(questioner(http, sids, ledger)))
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            rss.append((time.monotonic() - started, proc.memory_info().rss))
            await asyncio.sleep(min(SAMPLE_S, max(0.0, seconds - (time.monotonic() - started))))
            for group in (tasks, pushers):
                crashed = [t for t in group if t.done() and not t.cancelled() and t.exception() is not None]
                for task in crashed:
                    ledger.failures.append(f"client task: {task.exception()!r}")
                    group.remove(task)
        phases = {"load_s": time.monotonic() - started}
        stop.set()
        await asyncio.wait_for(asyncio.gather(*pushers, return_exceptions=True), 120)
        phases["pushers_stopped_s"] = time.monotonic() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        rows = await reconcile(http, sids, ledger)
        phases["drained_s"] = time.monotonic() - started
        for crowd in crowds:
            await crowd.close()
        phases["closed_s"] = time.monotonic() - started
        health = (await http.get("/v1/health")).status_code
        stats = (await http.get("/v1/internal/stats")).json()
    warm = [r for t, r in rss if t >= seconds / 5] or [r for _, r in rss]
    return {
        "seconds": seconds,
        "phases": phases,
        "sessions": sessions,
        "subscribers": subscribers,
        "per_session": rows,
        "statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
        "server_errors": ledger.server_errors[:50],
        "failures": ledger.failures[:50],
        "push_ack_http": latency_summary(ledger.http_acks_ms) if ledger.http_acks_ms else {},
        "push_ack_ws": latency_summary(ledger.ws_acks_ms) if ledger.ws_acks_ms else {},
        "rss_mb": [(round(t, 1), round(r / 2**20, 1)) for t, r in rss],
        "rss_growth_after_warmup": max(warm) / warm[0] - 1.0,
        "events_dropped_for_slow_subscribers": stats["events_dropped"],
        "health_at_end": health,
    }


def checks(result: dict[str, Any]) -> dict[str, bool]:
    """The run's pass/fail lines (the CI test asserts the exact ones; RSS is the bench's)."""
    rows = result["per_session"]
    return {
        "every session balances (enqueued = processed + skipped + queued)": all(r["balanced"] for r in rows),
        "total_enqueued = sum of pushed in the acks": all(r["enqueued_as_acked"] for r in rows),
        "total_dropped = sum of dropped in the acks": all(r["dropped_as_acked"] for r in rows),
        "skipped in /stream/status agrees with /metrics": all(r["skipped_agrees"] for r in rows),
        "no response >= 500": not result["server_errors"],
        "no request without a response": not result["failures"],
        "healthy at the end": result["health_at_end"] == 200,
        "RSS flat within 10% after warm-up": result["rss_growth_after_warmup"] <= 0.10,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="(default: %(default)s)")
    p.add_argument("--sessions", type=int, default=16, help="(default: %(default)s)")
    p.add_argument("--subscribers", type=int, default=200, help="(default: %(default)s)")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="soak.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    from bench.report import machine, machine_line, table, write_json
    from bench.servers import ours_options
    from streaminfer.models import resolve_model
    from streaminfer.server import launch

    args = parse(argv)
    raise_open_files(4 * args.subscribers + 1024)
    port = launch.free_port()
    options = [*ours_options(1024, args.threads), "--max-sessions", str(args.sessions + 4)]
    cmd = launch.serve_command(str(resolve_model(args.model)), port, *options)
    with launch.running(cmd, port, OUT_DIR / "streaminfer.log", "/v1/health", timeout=180.0) as server:
        run = soak(server.base_url, server.process.pid, 60 * args.minutes, args.sessions, args.subscribers)
        result = asyncio.run(run)
    result["machine"] = machine()
    result["command"] = f"python -m bench soak --minutes {args.minutes:g} --sessions {args.sessions} " + (
        f"--subscribers {args.subscribers}"
    )
    result["checks"] = checks(result)
    write_json(args.out, result)
    ack_http, ack_ws = result["push_ack_http"], result["push_ack_ws"]
    rows: list[tuple[str, Any]] = [(name, "yes" if ok else "NO") for name, ok in result["checks"].items()]
    rows += [
        ("push ack p50 / p99 ms, HTTP", f"{ack_http.get('p50_ms', 0):.1f} / {ack_http.get('p99_ms', 0):.1f}"),
        (
            "push ack p50 / p99 ms, WebSocket",
            f"{ack_ws.get('p50_ms', 0):.1f} / {ack_ws.get('p99_ms', 0):.1f}",
        ),
        ("records pushed / dropped / skipped", _totals(result["per_session"])),
        ("RSS MB first / last", f"{result['rss_mb'][0][1]} / {result['rss_mb'][-1][1]}"),
        ("events dropped for slow subscribers", result["events_dropped_for_slow_subscribers"]),
        ("statuses", ", ".join(f"{k}: {v}" for k, v in result["statuses"].items())),
    ]
    print(f"{machine_line(result['machine'])}\n\n`{result['command']}`\n\n" + table(("", ""), rows))
    for line in result["server_errors"][:10] + result["failures"][:10]:
        print("  " + line)
    print(f"JSON: {OUT_DIR / args.out}")
    return 0 if all(result["checks"].values()) else 1


def _totals(rows: list[dict[str, Any]]) -> str:
    pushed = sum(r["clients_pushed"] for r in rows)
    return f"{pushed} / {sum(r['total_dropped'] for r in rows)} / {sum(r['skipped'] for r in rows)}"
