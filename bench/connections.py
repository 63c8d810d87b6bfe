"""Connection scale: thousands of mostly idle SSE and WebSocket subscribers on one server,
while one session is pushed to and its events fanned out to all of them.

``python -m bench connections --subscribers 10000`` starts ``streaminfer serve``,
creates one OHLCV session, and measures push-ack latency with no subscriber; then
connects the subscribers (half SSE, half WebSocket, from ``--workers`` child
processes) and pushes again. Reported: the server's RSS per connection, push-ack
p50/p99 with and without the crowd, event delivery (each subscriber's arrival of a
``data_updated`` minus the earliest arrival of the same event at any subscriber: the
fan-out's own delay), and the events each subscriber missed (must be 0).

The open-file limit: each subscriber holds one descriptor in the server and one in
a client process. The benchmark raises its soft RLIMIT_NOFILE to the hard limit
(children inherit it); a hard limit below the subscriber count plus a few hundred
must be raised by the user (README, below the serve options).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from typing import Any

import httpx
import psutil

from bench import OUT_DIR
from bench.clients import RawHttp
from bench.report import machine, machine_line, table, write_json
from bench.servers import ours_options
from bench.stats import latency_summary
from bench.subscribers import raise_open_files, run_crowd
from bench.workload import fresh_seed, ohlcv_series
from streaminfer.models import resolve_model
from streaminfer.server import launch


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench connections", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=10000, help="(default: %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="client processes (default: %(default)s)")
    p.add_argument("--push-seconds", type=float, default=20.0, help="per phase (default: %(default)s)")
    p.add_argument("--push-rate", type=float, default=20.0, help="pushes per second (default: %(default)s)")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="connections.json")
    return p.parse_args(argv)


def push_phase(base: str, sid: str, seconds: float, rate: float) -> list[float]:
    """One record per push at ``rate`` per second on one keep-alive connection: ack times in ms."""
    http = RawHttp(base)
    path = f"/v1/sessions/{sid}/stream/push"
    records = ohlcv_series(int(seconds * rate) + 1, seed=fresh_seed())
    acks: list[float] = []
    t_next = time.monotonic()
    try:
        for record in records:
            t_next += 1.0 / rate
            t0 = time.perf_counter()
            http.post(path, json.dumps({"data": [record]}).encode())
            acks.append((time.perf_counter() - t0) * 1e3)
            time.sleep(max(0.0, t_next - time.monotonic()))
    finally:
        http.close()
    return acks


def delivery(members: list[dict[str, Any]]) -> dict[str, Any]:
    """Delivery: arrival minus the earliest arrival of the same version, for the versions
    published once every subscriber was there. Missed: the versions published after a
    subscriber subscribed that it did not get (events published while the crowd was
    still connecting reach only those already there)."""
    earliest: dict[int, float] = {}
    for m in members:
        for version, at in m["versions"].items():
            earliest[version] = min(at, earliest.get(version, at))
    connected = [m for m in members if m["connected"]]
    crowd_from = max((m["since"] for m in connected), default=0)  # every subscriber there
    delays = [(at - earliest[v]) * 1e3 for m in members for v, at in m["versions"].items() if v > crowd_from]
    missed = sum(len([v for v in earliest if v > m["since"] and v not in m["versions"]]) for m in connected)
    return {
        "events": len(earliest),
        "events_full": len([v for v in earliest if v > crowd_from]),
        "connected": len(connected),
        "errors": sorted({m["error"] for m in members if m["error"]})[:5],
        "missed": missed,
        "delivery": latency_summary(delays) if delays else {},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = raise_open_files(2 * args.subscribers + 1024)
    model = str(resolve_model(args.model))
    port = launch.free_port()
    cmd = launch.serve_command(model, port, *ours_options(1024, args.threads))
    with launch.running(cmd, port, OUT_DIR / "streaminfer.log", "/v1/health", timeout=180.0) as server:
        base = server.base_url
        proc = psutil.Process(server.process.pid)
        with httpx.Client(base_url=base, trust_env=False, timeout=120) as client:
            init = client.post("/v1/sessions/init", json={"type": "ohlcv", "window_size": 16})
            assert init.status_code == 200, init.text
            sid = init.json()["session_id"]
            push_phase(base, sid, 2.0, args.push_rate)  # warm-up
            alone = push_phase(base, sid, args.push_seconds, args.push_rate)
            rss_before = proc.memory_info().rss
            ctx = multiprocessing.get_context("spawn")
            stop = ctx.Event()
            results: Any = ctx.Queue()
            share = [args.subscribers // args.workers] * args.workers
            share[0] += args.subscribers - sum(share)
            readies = [ctx.Event() for _ in share]
            children = [
                ctx.Process(target=run_crowd, args=(base, sid, n, ready, stop, results))
                for n, ready in zip(share, readies, strict=True)
            ]
            t_connect = time.monotonic()
            for child in children:
                child.start()
            for ready in readies:
                ready.wait(900)
            connect_s = time.monotonic() - t_connect
            time.sleep(2.0)
            rss_connected = proc.memory_info().rss
            held = client.get("/v1/internal/stats").json()["subscribers"]
            crowded = push_phase(base, sid, args.push_seconds, args.push_rate)
            stop.set()
            members = [m for _ in children for m in results.get(timeout=600)["members"]]
            for child in children:
                child.join(60)
            stats = client.get("/v1/internal/stats").json()
    return {
        "machine": machine(),
        "command": "python -m bench connections "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "open_files_limit": limit,
        "subscribers": args.subscribers,
        "held_by_server": held,
        "connect_s": connect_s,
        "rss_before_mb": rss_before / 2**20,
        "rss_connected_mb": rss_connected / 2**20,
        "kb_per_connection": (rss_connected - rss_before) / 1024 / max(1, args.subscribers),
        "push_ack_alone": latency_summary(alone),
        "push_ack_crowded": latency_summary(crowded),
        "server_events_dropped": stats["events_dropped"],
        **delivery(members),
    }


def report(result: dict[str, Any]) -> str:
    d = result.get("delivery", {})
    rows = [
        ("subscribers connected / held by the server", f"{result['connected']} / {result['held_by_server']}"),
        ("connect time, s", f"{result['connect_s']:.1f}"),
        ("server RSS per connection, KB", f"{result['kb_per_connection']:.1f}"),
        ("push ack p50 / p99 / max, ms, no subscriber", _lat(result["push_ack_alone"])),
        ("push ack p50 / p99 / max, ms, with the crowd", _lat(result["push_ack_crowded"])),
        ("event delivery p50 / p99 / max, ms", _lat(d) if d else "-"),
        ("events fanned out (with every subscriber there)", f"{result['events']} ({result['events_full']})"),
        ("events missed by a subscriber (must be 0)", result["missed"]),
        ("events dropped by the server", result["server_events_dropped"]),
    ]
    return f"{machine_line(result['machine'])}\n\n`{result['command']}`\n\n" + table(("", "value"), rows)


def _lat(s: dict[str, float]) -> str:
    return f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.1f}"


def main(argv: list[str]) -> int:
    args = parse(argv)
    result = run(args)
    write_json(args.out, result)
    print(report(result))
    print(f"JSON: {OUT_DIR / args.out}")
    return 0 if result["missed"] == 0 and result["connected"] == args.subscribers else 1
