"""The peer: llama.cpp's own ``llama-bench`` and ``llama-server``, built from the same
pinned llama.cpp source as the core by ``bench/build_peer.sh`` into ``build/peer/bin``.

Their command lines, the parsing of what they answer, and the prompt the
re-prompting llama-server gets (the very text our session holds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import ROOT
from bench.stats import ratio
from bench.workload import Record
from streaminfer import _core
from streaminfer.server.launch import HOST

PEER_BIN = ROOT / "build" / "peer" / "bin"


class PeerMissing(SystemExit):
    """A measurement needs a peer binary that is not built."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"bench: {name} not built (looked in {PEER_BIN} and on PATH): run bench/build_peer.sh"
        )


def peer_binary(name: str) -> Path | None:
    """``build/peer/bin/NAME`` when ``bench/build_peer.sh`` built it, else NAME on PATH, else None."""
    path = PEER_BIN / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    found = shutil.which(name)
    return Path(found) if found else None


def require(name: str) -> Path:
    """``peer_binary(name)``, or a clear exit when it is not built."""
    path = peer_binary(name)
    if path is None:
        raise PeerMissing(name)
    return path


def llama_bench_pp(
    model: str, threads: int, n_prompt: int = 512, depth: int = 0, reps: int = 3
) -> float | None:
    """llama-bench's prompt-processing rate (tokens/s, its average over ``reps``); None without it."""
    exe = peer_binary("llama-bench")
    if exe is None:
        return None
    cmd = [str(exe), "-m", model, "-t", str(threads), "-p", str(n_prompt), "-n", "0", "-r", str(reps)]
    cmd += ["-o", "json", *(("-d", str(depth)) if depth else ())]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads(proc.stdout)
    return float(rows[0]["avg_ts"])


def llama_bench_command(threads: int, n_prompt: int = 512, depth: int = 0, reps: int = 3) -> str:
    """The llama-bench command ``llama_bench_pp`` runs, as reported (the model path left out)."""
    extra = f" -d {depth}" if depth else ""
    return f"build/peer/bin/llama-bench -m MODEL -t {threads} -p {n_prompt} -n 0 -r {reps}{extra}"


def llama_server_command(model: str, ctx: int, threads: int, port: int, cache_reuse: int = 0) -> list[str]:
    """llama-server with one slot, ``threads`` for prompt and generation, on loopback."""
    cmd = [str(require("llama-server")), "-m", model, "-c", str(ctx), "-np", "1"]
    cmd += ["-t", str(threads), "-tb", str(threads), "--host", HOST, "--port", str(port)]
    if cache_reuse:
        cmd += ["--cache-reuse", str(cache_reuse)]
    return cmd


def completion(client: httpx.Client, url: str, prompt: str, n_predict: int) -> dict[str, Any]:
    """One greedy ``/completion`` with ``cache_prompt``, timed by the client; what the peer
    evaluated (``prompt_n``) and how long it took by its own clock come from its timings."""
    body = {
        "prompt": prompt,
        "n_predict": n_predict,
        "cache_prompt": True,
        "temperature": 0.0,
        "top_k": 1,
        "stop": ["\n"],
    }
    t0 = time.monotonic()
    resp = client.post(url + "/completion", json=body, timeout=600.0)
    wall = time.monotonic() - t0
    resp.raise_for_status()
    out = resp.json()
    timings = out.get("timings", {})
    return {
        "wall_s": wall,
        "text": out.get("content", ""),
        "prompt_n": timings.get("prompt_n"),
        "prompt_ms": timings.get("prompt_ms"),
        "predicted_n": timings.get("predicted_n"),
        "tokens_cached": out.get("tokens_cached"),
    }


@dataclass(frozen=True)
class PromptText:
    """The exact text our session holds (prefix + record lines) and the question template,
    so that the peer evaluates what we do."""

    prefix: str
    question_tail: str

    def full(self, records: list[Record], question: str) -> str:
        lines = "".join(_core.format_record("ohlcv", r) for r in records)
        return f"{self.prefix}{lines}\nQuestion: {question}{self.question_tail}"


def prompt_text(model: str) -> PromptText:
    """Read the prefix of an OHLCV session off a small engine of ``model``."""
    engine = _core.Engine(model, n_ctx=512, n_threads=1)
    try:
        session = engine.create_session("sess_prompt_text", "ohlcv")
        prefix = session.context_text()
    finally:
        engine.close()
    # cpp/src/prompt-template.cpp: "\nQuestion: " + text + the chat template's user->assistant turn.
    tail = "<|im_end|>\n<|im_start|>assistant\n" if prefix.startswith("<|im_start|>") else "\nAnswer:"
    return PromptText(prefix, tail)


DEPTH = 1024  # llama-bench -d of the deep comparison: about where our batches land


def beside_llama_bench(
    model: str,
    threads: int,
    rounds: int,
    measure: Callable[[], dict[str, Any]],
    *,
    deep_reps: int,
    deep_key: str,
) -> list[dict[str, Any]]:
    """``rounds`` times: llama-bench pp512, and pp512 at depth ``DEPTH`` (under ``deep_key``),
    then ``measure()`` (an ingest figure with ``tokens_per_s_wall``), alternating so that
    both see the same machine; the figures of each round together, with their ratio."""
    if peer_binary("llama-bench") is None:
        print("  llama-bench not built (bench/build_peer.sh): measuring ours alone", flush=True)
    runs = []
    for r in range(rounds):
        pp = llama_bench_pp(model, threads)
        deep = llama_bench_pp(model, threads, depth=DEPTH, reps=deep_reps)
        ours = measure()
        ours["llama_bench_pp512"] = pp
        ours[deep_key] = deep
        ours["ratio_wall"] = ratio(ours["tokens_per_s_wall"], pp)
        runs.append(ours)
        print(
            f"  ingest round {r + 1}: {ours['tokens_per_s_wall']:.0f} tok/s wall, "
            f"{ours['tokens_per_s_decode']:.0f} tok/s decode, llama-bench pp512 {pp}",
            flush=True,
        )
    return runs
