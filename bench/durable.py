"""The cost of ``--state-dir``, measured on real server processes.

push: push-ack latency and push throughput over HTTP, without a state
directory and with one in each ``--fsync`` mode, side by side, the modes
taken in turn for ``--rounds`` rounds (a fresh server each time). Several
sessions are pushed to at once, each by its own client, one request in
flight per session.

restore: ``--sessions`` sessions with full windows are saved by SIGTERM and
the server started again twice: once with their ``kv.bin`` (the fast path),
once without it (every window decoded again). The figure is the restore's
own time, from the server's progress line, beside the whole start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import OUT_DIR
from bench.stats import latency_summary, median
from bench.workload import ohlcv_series

MODES = ("none", "never", "batch", "always")
WINDOW = 32  # records, of the pushed sessions
RESTORED_WINDOW = 16  # records, of the restored sessions (about 700 tokens each)
BATCH = 8
RESTORED = re.compile(r"restoring saved sessions: (\d+) of (\d+) done, (\d+) records \(([\d.]+) s\)")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench durable", description=__doc__.split("\n\n")[0])
    p.add_argument("--push-seconds", type=float, default=15.0, help="each mode, each round (%(default)s)")
    p.add_argument("--rounds", type=int, default=2, help="(default: %(default)s)")
    p.add_argument("--pushers", type=int, default=4, help="sessions pushed to at once (default: %(default)s)")
    p.add_argument("--sessions", type=int, default=16, help="sessions restored (default: %(default)s)")
    p.add_argument("--parts", nargs="+", choices=("push", "restore"), default=["push", "restore"])
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="durable.json")
    return p.parse_args(argv)


class Server:
    """``streaminfer serve`` with the benchmarks' options (and a state directory, or none)."""

    def __init__(self, model: str, threads: int, sessions: int) -> None:
        from bench.servers import ours_options

        self.model = model
        self.options = [*ours_options(2048, threads), "--max-sessions", str(sessions + 4)]

    def run(self, state_dir: Path | None, fsync: str, log_name: str) -> Any:
        from streaminfer.server import launch

        port = launch.free_port()
        extra = [] if state_dir is None else ["--state-dir", str(state_dir), "--fsync", fsync]
        cmd = launch.serve_command(self.model, port, *self.options, *extra)
        log_path = OUT_DIR / log_name
        log_path.unlink(missing_ok=True)
        return launch.running(cmd, port, log_path, "/v1/health", timeout=600.0)


async def create(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await http.post("/v1/sessions/init", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"creating a session: {response.status_code} {response.text}")
    sid: str = response.json()["session_id"]
    return sid


async def push_for(base: str, sessions: int, seconds: float) -> dict[str, Any]:
    """``sessions`` clients push batches of BATCH records for ``seconds``; ack times and counts."""
    acks_ms: list[float] = []
    pushed = dropped = 0
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as http:
        sids = []
        for _ in range(sessions):
            body = {"type": "ohlcv", "window_size": WINDOW}
            sids.append(await create(http, body))
        records = ohlcv_series(200_000, seed=7)
        end = time.monotonic() + seconds

        async def pusher(sid: str, offset: int) -> None:
            nonlocal pushed, dropped
            i = offset
            while time.monotonic() < end:
                batch = records[i % 190_000 : i % 190_000 + BATCH]
                t0 = time.perf_counter()
                response = await http.post(f"/v1/sessions/{sid}/stream/push", json={"data": batch})
                acks_ms.append((time.perf_counter() - t0) * 1e3)
                response.raise_for_status()
                pushed += response.json()["pushed"]
                dropped += response.json()["dropped"]
                i += BATCH

        started = time.monotonic()
        await asyncio.gather(*(pusher(sid, 10_000 * k) for k, sid in enumerate(sids)))
        elapsed = time.monotonic() - started
    return {
        **latency_summary(acks_ms),
        "pushes_per_s": len(acks_ms) / elapsed,
        "records_per_s": pushed / elapsed,
        "dropped": dropped,
    }


def measure_push(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="bench-durable-", dir=OUT_DIR) as tmp:
                state_dir = None if mode == "none" else Path(tmp)
                with server.run(state_dir, mode, "durable-push.log") as running:
                    result = asyncio.run(push_for(running.base_url, args.pushers, args.push_seconds))
            print(
                f"  round {round_ + 1} {mode:>6}: ack p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, {result['records_per_s']:.0f} records/s",
                flush=True,
            )
            runs[mode].append(result)
    keys = ("p50_ms", "p99_ms", "pushes_per_s", "records_per_s")
    summary = {mode: {k: median([r[k] for r in rs]) for k in keys} for mode, rs in runs.items()}
    base = summary["none"]["records_per_s"]
    for row in summary.values():
        row["throughput_vs_none"] = row["records_per_s"] / base
    return {"runs": runs, "median": summary}


def measure_log_writes(n: int = 2000) -> dict[str, dict[str, float]]:
    """The log's own cost per push of BATCH records, in this process on an idle core: the
    write (and, for "always", the fsync the ack waits for)."""
    from streaminfer.server.record_log import RecordLog

    records = ohlcv_series(n * BATCH, seed=3)
    out = {}
    for mode in MODES[1:]:
        with tempfile.TemporaryDirectory(prefix="bench-durable-", dir=OUT_DIR) as tmp:
            log, _ = RecordLog.open(Path(tmp), mode)
            times_ms = []
            for i in range(n):
                t0 = time.perf_counter()
                log.append(records[i * BATCH : (i + 1) * BATCH])
                if mode == "always":
                    log.fsync()
                times_ms.append((time.perf_counter() - t0) * 1e3)
            log.close()
        out[mode] = latency_summary(times_ms)
    return out


async def fill(base: str, sessions: int) -> int:
    """``sessions`` sessions with a flash query and a full window, decoded; returns records."""
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as http:
        sids = []
        for k in range(sessions):
            body = {"type": "ohlcv", "window_size": RESTORED_WINDOW, "flash": ["Is the trend up or down?"]}
            sid = await create(http, body)
            data = ohlcv_series(RESTORED_WINDOW, seed=k)
            await http.post(f"/v1/sessions/{sid}/stream/push", json={"data": data})
            sids.append(sid)
        while True:
            statuses = [(await http.get(f"/v1/sessions/{sid}/stream/status")).json() for sid in sids]
            if all(s["streaming"]["queue_size"] == 0 for s in statuses):
                return sessions * RESTORED_WINDOW
            await asyncio.sleep(0.5)


def timed_restart(server: Server, state_dir: Path, label: str) -> dict[str, Any]:
    started = time.perf_counter()
    with server.run(state_dir, "batch", f"durable-restore-{label}.log") as running:
        ready_s = time.perf_counter() - started
        found = RESTORED.findall(running.log())
    if not found:
        raise RuntimeError(f"no restore progress line in {running.log_path}")
    done, total, records, seconds = found[-1]
    if done != total:
        raise RuntimeError(f"{label}: {done} of {total} sessions restored")
    return {"sessions": int(total), "records": int(records), "restore_s": float(seconds), "start_s": ready_s}


def measure_restore(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-durable-", dir=OUT_DIR) as tmp:
        state_dir = Path(tmp) / "state"
        with server.run(state_dir, "batch", "durable-fill.log") as running:
            asyncio.run(fill(running.base_url, args.sessions))
        # SIGTERM (the exit above) saved every session with kv.bin.
        kv_files = sorted(state_dir.glob("sessions/*/kv.bin"))
        kv_bytes = sum(p.stat().st_size for p in kv_files)
        without_kv = Path(tmp) / "without-kv"
        shutil.copytree(state_dir, without_kv)
        for path in without_kv.glob("sessions/*/kv.bin"):
            path.unlink()
        fast = timed_restart(server, state_dir, "kv")
        decoded = timed_restart(server, without_kv, "decode")
    figures = f"{fast['restore_s']:.2f} s from kv.bin, {decoded['restore_s']:.2f} s decoding"
    print(f"  restore: {figures}", flush=True)
    return {"kv_files": len(kv_files), "kv_bytes": kv_bytes, "from_kv": fast, "decoded": decoded}


def report_push(push: dict[str, Any]) -> str:
    from bench.report import table

    keys = (("p50_ms", ".2f"), ("p99_ms", ".2f"), ("records_per_s", ".0f"), ("throughput_vs_none", ".2f"))
    rows = [(mode, *(format(m[k], f) for k, f in keys)) for mode, m in push["median"].items()]
    header = ("--fsync", "push ack p50 ms", "p99 ms", "records/s pushed", "vs no state dir")
    writes = [(mode, f"{w['p50_ms']:.3f}", f"{w['p99_ms']:.3f}") for mode, w in push["log_write"].items()]
    log_header = ("log write per push (in process)", "p50 ms", "p99 ms")
    return table(header, rows) + "\n\n" + table(log_header, writes)


def report_restore(restore: dict[str, Any]) -> str:
    from bench.report import table

    fast, decoded = restore["from_kv"], restore["decoded"]
    row = (
        f"{fast['sessions']} sessions",
        fast["records"],
        f"{fast['restore_s']:.2f}",
        f"{decoded['restore_s']:.2f}",
        f"{fast['start_s']:.1f} / {decoded['start_s']:.1f}",
    )
    header = ("restore of", "records", "from kv.bin s", "decoding s", "start-up s (kv / decode)")
    kv = f"kv.bin: {restore['kv_files']} files, {restore['kv_bytes'] / 1e6:.1f} MB in all"
    return table(header, [row]) + "\n\n" + kv


def main(argv: list[str]) -> int:
    from bench.report import machine, machine_line, write_json
    from streaminfer.models import resolve_model

    args = parse(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    server = Server(str(resolve_model(args.model)), args.threads, max(args.sessions, args.pushers))
    info = machine()
    command = (
        f"python -m bench durable --parts {' '.join(args.parts)} --push-seconds {args.push_seconds:g} "
        f"--rounds {args.rounds} --pushers {args.pushers} --sessions {args.sessions}"
    )
    result: dict[str, Any] = {"machine": info, "command": command}
    reports = []
    if "push" in args.parts:
        print("push cost, by --fsync mode", flush=True)
        result["push"] = measure_push(server, args)
        result["push"]["log_write"] = measure_log_writes()
        reports.append(report_push(result["push"]))
    if "restore" in args.parts:
        print(f"restore of {args.sessions} sessions", flush=True)
        result["restore"] = measure_restore(server, args)
        reports.append(report_restore(result["restore"]))
    write_json(args.out, result)
    print(f"\n{machine_line(info)}\n\n`{command}`\n\n" + "\n\n".join(reports))
    print(f"JSON: {OUT_DIR / args.out}")
    return 0
