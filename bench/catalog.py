"""The measurements ``python -m bench`` knows: their names, groups, options and one-line
summaries. Plain data: reading it imports no measurement, no model, no core.

A measurement module ``bench/<name>.py`` (dashes become underscores) has
``run(ctx) -> result`` and ``report(result) -> markdown``; the runner
(``bench/runner.py``) saves the result under ``key`` in the JSON file and
prints the report under ``heading``. ``builds`` and ``gpu`` run their own
child processes (each loads its own build of the core) and have ``main(argv)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import ROOT


@dataclass(frozen=True)
class Measurement:
    name: str
    group: str  # "engine" or "peer": shares a JSON file and a report; "": a tool of its own
    summary: str
    options: tuple[str, ...] = ()  # names in OPTIONS
    key: str = ""  # its result's key in the JSON file (default: the name)
    heading: str = ""  # its section's heading in the report (default: the key)
    run_by: str = ""  # the measurement whose run() produces the result (default: itself)
    first: bool = False  # runs before the rest of its group, in a process that has loaded no model

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def result_key(self) -> str:
        return self.key or self.name

    @property
    def title(self) -> str:
        return self.heading or self.result_key

    @property
    def runner_module(self) -> str:
        return (self.run_by or self.name).replace("-", "_")


@dataclass(frozen=True)
class Group:
    name: str
    title: str  # the report's heading
    summary: str  # in the list of groups
    section: str  # heading of its measurements in the list


GROUPS = (
    Group(
        "engine",
        "Engine benchmark",
        "every engine measurement (about 6 minutes)",
        "the engine in process, through streaminfer._core (group engine)",
    ),
    Group(
        "peer",
        "Peer benchmark",
        "every peer measurement (about 20 minutes)",
        "our server over HTTP and WebSocket, beside llama-server and llama-bench (group peer)",
    ),
)

MEASUREMENTS = (
    Measurement("tokens", "engine", "tokens per record, five types: our compact line vs JSON vs k=v"),
    Measurement(
        "ingest",
        "engine",
        "sustained ingest tokens/s and records/s in process, beside llama-bench pp512",
        ("rounds", "ingest_seconds"),
    ),
    Measurement(
        "flash", "engine", "flash refresh time for 1, 5 and 20 standing queries, in process", ("flash_steps",)
    ),
    Measurement("memory", "engine", "process RSS with 1 and 8 sessions holding a full window", first=True),
    Measurement("equivalence", "engine", "the incremental KV state vs a context rebuilt from scratch"),
    Measurement(
        "fresh",
        "peer",
        "push -> fresh standing answer, ours vs re-prompting llama-server, W = 16, 64, 128",
        ("steps", "windows", "plot"),
        heading="fresh answer",
    ),
    Measurement(
        "adhoc",
        "peer",
        "an ad-hoc question after new data: our /generate vs llama-server (runs fresh at its W)",
        ("steps", "adhoc_window", "plot"),
        key="fresh",
        heading="ad-hoc question",
        run_by="fresh",
    ),
    Measurement(
        "http-ingest",
        "peer",
        "sustained ingest over HTTP, beside llama-bench pp512 (also at depth 1024)",
        ("rounds", "ingest_seconds"),
        key="ingest",
    ),
    Measurement(
        "fanout", "peer", "flash refresh for 1, 5 and 20 standing queries, over the server", ("fanout_steps",)
    ),
    Measurement(
        "push",
        "peer",
        "push records/s over HTTP and WebSocket, and push-ack latency while decoding",
        ("push_seconds",),
    ),
    Measurement("cachehit", "peer", "/generate answered from a fresh flash answer: in process and over HTTP"),
    Measurement("builds", "", "ingest of the native build vs the portable build and its CPU variants"),
    Measurement("gpu", "", "on an NVIDIA GPU: a CUDA build beside llama-bench on one synthetic 8B model"),
    Measurement(
        "soak", "", "sessions pushed over HTTP and WebSocket, slow subscribers: every record counted"
    ),
    Measurement("fuzz", "", "schema-driven fuzzing of every REST route: responses >= 500, crashes, RSS"),
    Measurement("connections", "", "thousands of idle SSE/WebSocket subscribers: memory, push ack, delivery"),
    Measurement("fanout-cost", "", "the server's own time to fan an event out to N subscribers"),
    Measurement("columns-push", "", "push of 100k OHLCV rows from numpy: columns vs a list of dicts"),
    Measurement("durable", "", "--state-dir: push cost by --fsync mode; restore with and without kv.bin"),
)

# argparse keyword arguments of every option a measurement may take, by dest.
OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "rounds": ("--rounds", {"type": int, "default": 3, "help": "ingest rounds (llama-bench + ours each)"}),
    "ingest_seconds": ("--ingest-seconds", {"type": float, "default": 20.0, "help": "per ingest round"}),
    "flash_steps": ("--flash-steps", {"type": int, "default": 5, "help": "batches per query count"}),
    "steps": ("--steps", {"type": int, "default": 4, "help": "fresh-answer steps per W and contender"}),
    "windows": ("--windows", {"type": int, "nargs": "+", "default": [16, 64, 128], "help": "the W compared"}),
    "adhoc_window": (
        "--adhoc-window",
        {"type": int, "default": 64, "help": "the W of the ad-hoc comparison"},
    ),
    "plot": (
        "--plot",
        {"default": str(ROOT / "bench" / "fresh_answer_latency.png"), "help": "the fresh-answer figure"},
    ),
    "fanout_steps": ("--fanout-steps", {"type": int, "default": 5, "help": "batches per query count"}),
    "push_seconds": ("--push-seconds", {"type": float, "default": 5.0, "help": "per push-rate figure"}),
}


def group(name: str) -> Group | None:
    return next((g for g in GROUPS if g.name == name), None)


def find(name: str) -> Measurement | None:
    return next((m for m in MEASUREMENTS if m.name == name), None)


def members(group_name: str) -> tuple[Measurement, ...]:
    return tuple(m for m in MEASUREMENTS if m.group == group_name)


def usage() -> str:
    """The text of ``python -m bench --help``."""
    lines = [
        "usage: python -m bench NAME [options]    (python -m bench NAME --help: its options)",
        "",
        "Prints markdown tables and writes JSON under bench/out/ (NAME.json; a group: GROUP.json).",
        "",
        "groups (every measurement of the group, one run, one JSON file; --only NAME ... for some):",
    ]
    lines += [f"  {g.name:<12} {g.summary}" for g in GROUPS]
    for g in (*GROUPS, Group("", "", "", "tools with their own options and processes")):
        lines += ["", f"{g.section}:"]
        lines += [f"  {m.name:<12} {m.summary}" for m in members(g.name)]
    return "\n".join(lines)
