"""What the benchmarks push and ask: sample records of the five types, OHLCV series
and frames, and the questions stood over an OHLCV window.

Records are random but realistic (a price random walk, plausible sensor
ranges), so that their token counts are those of real data.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import Any

from streaminfer.samples import OHLCV_QUESTIONS

Record = dict[str, Any]

T0 = 1_700_000_000  # Unix seconds of the first sample record
QUESTION = OHLCV_QUESTIONS[0]  # the standing question: "Is the trend bullish or bearish?"
FLASH_TOKENS = 4  # max_tokens of every standing question
BATCH = 4  # new records per step of the fresh-answer and fan-out measurements

__all__ = ["BATCH", "FLASH_TOKENS", "OHLCV_QUESTIONS", "QUESTION", "Record"]


def fresh_seed() -> int:
    """A seed for data never seen before (no cache on either side can know it)."""
    return secrets.randbits(31)


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


def ohlcv_frames(n_frames: int, per_frame: int) -> list[list[Record]]:
    """``n_frames`` pushes of ``per_frame`` fresh candles each."""
    recs = ohlcv_series(n_frames * per_frame, seed=fresh_seed())
    return [recs[i * per_frame : (i + 1) * per_frame] for i in range(n_frames)]


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
    """``n`` realistic records of ``data_type``; timestamped ones are 60 s (OHLCV) or 5 s apart."""
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
