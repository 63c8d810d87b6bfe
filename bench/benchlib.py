"""Shared pieces of the Python benchmarks: sample records, statistics, the machine, llama-bench.

Imported by the ``bench/bench_*.py`` scripts (run as scripts, so ``bench/``
is on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
PEER_BIN = ROOT / "build" / "peer" / "bin"
T0 = 1_700_000_000  # Unix seconds of the first sample record

Record = dict[str, Any]


# ---------------------------------------------------------------- builds


def use_core_from(folder: Path) -> None:
    """Make the ``_core`` module in ``folder`` (another build's) ``streaminfer._core``
    for this process. Call it before anything imports ``streaminfer._core``; two
    builds of ggml must not share a process."""
    import streaminfer

    modules = sorted(folder.glob("_core*.so"))
    if not modules:
        raise SystemExit(f"no _core module in {folder}")
    spec = importlib.util.spec_from_file_location("streaminfer._core", modules[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["streaminfer._core"] = module
    spec.loader.exec_module(module)
    streaminfer._core = module  # type: ignore[attr-defined]


# ---------------------------------------------------------------- records


# Twenty distinct questions about an OHLCV window (the first is the standing one).
OHLCV_QUESTIONS = [
    "Is the trend bullish or bearish?",
    "What is the last close?",
    "What is the highest high?",
    "What is the lowest low?",
    "What was the first open?",
    "Is volume rising or falling?",
    "What is the last volume?",
    "How many records are there?",
    "Did the price go up in the last record?",
    "What time is the last record?",
    "Summarize the data in one word.",
    "What is the close of the first record?",
    "Is the market volatile?",
    "What is the average close?",
    "Which record has the largest volume?",
    "Is the last candle green or red?",
    "What is the price range?",
    "Should a trader buy or sell?",
    "Is there a reversal?",
    "What is the latest high?",
]


def ohlcv(rng: random.Random, price: float) -> tuple[Record, float]:
    """One one-minute candle of a random walk starting at ``price``; returns it and the close."""
    o = price
    c = max(1.0, o + rng.gauss(0.0, 0.35))
    rec: Record = {
        "o": round(o, 2),
        "h": round(max(o, c) + abs(rng.gauss(0.0, 0.15)), 2),
        "l": round(min(o, c) - abs(rng.gauss(0.0, 0.15)), 2),
        "c": round(c, 2),
        "v": rng.randint(2_000, 90_000),
    }
    return rec, c


def ohlcv_series(n: int, seed: int, *, t0: int = T0, timestamp: bool = True) -> list[Record]:
    """``n`` consecutive candles (one per minute) from a seeded random walk."""
    rng = random.Random(seed)
    price = rng.uniform(50.0, 400.0)
    out: list[Record] = []
    for i in range(n):
        rec, price = ohlcv(rng, price)
        if timestamp:
            rec["timestamp"] = t0 + 60 * i
        out.append(rec)
    return out


def iot(rng: random.Random) -> Record:
    lo = float(rng.choice([15, 18, 20]))
    return {
        "sid": f"temp-{rng.randint(1, 24):02d}",
        "val": round(rng.uniform(lo - 2, lo + 10), 1),
        "lo": lo,
        "hi": lo + 8.0,
    }


def spatial(rng: random.Random) -> Record:
    return {
        "x": round(rng.uniform(-500, 500), 2),
        "y": round(rng.uniform(-500, 500), 2),
        "z": round(rng.uniform(0, 120), 1),
        "spd": round(rng.uniform(0, 25), 1),
        "hdg": round(rng.uniform(0, 359.9), 1),
    }


def event(rng: random.Random) -> Record:
    return {
        "src": rng.choice(["fw-edge-1", "fw-edge-2", "vpn-gw", "web-01", "db-02"]),
        "sev": rng.randint(0, 4),
        "cat": rng.choice(["auth_fail", "port_scan", "malware", "dns_tunnel", "policy"]),
        "cnt": rng.randint(1, 250),
    }


def vitals(rng: random.Random) -> Record:
    return {
        "hr": rng.randint(55, 120),
        "bp_s": rng.randint(100, 150),
        "bp_d": rng.randint(60, 95),
        "spo2": rng.randint(90, 100),
        "temp": round(rng.uniform(36.1, 38.9), 1),
    }


SIMPLE_GENERATORS: dict[str, Callable[[random.Random], Record]] = {
    "iot": iot,
    "spatial": spatial,
    "event": event,
    "vitals": vitals,
}


def sample_records(data_type: str, n: int, seed: int, *, timestamp: bool) -> list[Record]:
    """``n`` realistic records of ``data_type``, one per ``60 / 5`` seconds when timestamped."""
    if data_type == "ohlcv":
        return ohlcv_series(n, seed, timestamp=timestamp)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec = SIMPLE_GENERATORS[data_type](rng)
        if timestamp:
            rec["timestamp"] = T0 + 5 * i
        out.append(rec)
    return out


def kv_encoding(record: Record) -> str:
    """The ``k=v`` encoding we compare against (``o=185.5 h=186.2 ...``)."""
    return " ".join(f"{key}={value}" for key, value in record.items())


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


# ---------------------------------------------------------------- machine


def _lscpu_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "?"


def machine() -> dict[str, Any]:
    """What the figures were measured on (from lscpu and /proc/meminfo)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "commit": head.stdout.strip(),
        "cpu": _lscpu_field(text, "Model name"),
        "vcpus": os.cpu_count(),
        "hypervisor": _lscpu_field(text, "Hypervisor vendor"),
        "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['vcpus']} vCPU {info['cpu']} ({info['hypervisor']} guest), {info['mem_gib']} GiB, "
        f"Linux {info['kernel']}, Python {info['python']}"
    )


# ---------------------------------------------------------------- llama-bench


def peer_binary(name: str) -> Path | None:
    """``build/peer/bin/NAME`` when ``bench/build_peer.sh`` built it, else None."""
    path = PEER_BIN / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    found = shutil.which(name)
    return Path(found) if found else None


def llama_bench_pp(
    model: str, threads: int, n_prompt: int = 512, depth: int = 0, reps: int = 3
) -> float | None:
    """llama-bench's prompt-processing rate (tokens/s, its average over ``reps``); None without it."""
    exe = peer_binary("llama-bench")
    if exe is None:
        return None
    cmd = [
        str(exe),
        "-m",
        model,
        "-t",
        str(threads),
        "-p",
        str(n_prompt),
        "-n",
        "0",
        "-r",
        str(reps),
        "-o",
        "json",
    ]
    if depth:
        cmd += ["-d", str(depth)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads(proc.stdout)
    return float(rows[0]["avg_ts"])


def llama_bench_command(threads: int, n_prompt: int = 512, depth: int = 0, reps: int = 3) -> str:
    extra = f" -d {depth}" if depth else ""
    return f"build/peer/bin/llama-bench -m MODEL -t {threads} -p {n_prompt} -n 0 -r {reps}{extra}"


# ---------------------------------------------------------------- output


def write_json(name: str, payload: dict[str, Any]) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats get 3 significant decimals unless already strings."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
