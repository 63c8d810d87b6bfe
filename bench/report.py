"""What every measurement's output shares: markdown tables, the JSON files under
``bench/out/``, the description of the machine, and progress lines."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench import OUT_DIR, ROOT

T = TypeVar("T")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats get 3 significant decimals unless already strings."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``bench/out/NAME``; returns the path."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def read_json(name: str) -> dict[str, Any]:
    """An earlier run's ``bench/out/NAME``."""
    path = OUT_DIR / name
    if not path.is_file():
        raise SystemExit(f"bench: no {path}: run the measurement first, or name its file with --out")
    return dict(json.loads(path.read_text()))


def timed(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` between a progress line naming it and one with its duration."""
    print(f"== {name}", flush=True)
    t0 = time.monotonic()
    result = fn()
    print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    return result


def _lscpu_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "?"


def machine() -> dict[str, Any]:
    """What the figures were measured on (from lscpu and /proc/meminfo) and at which commit."""
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
    """``machine()`` as one line of prose for a report's heading."""
    return (
        f"{info['vcpus']} vCPU {info['cpu']} ({info['hypervisor']} guest), {info['mem_gib']} GiB, "
        f"Linux {info['kernel']}, Python {info['python']}"
    )
