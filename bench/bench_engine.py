"""Engine figures, measured in process through ``streaminfer._core``.

Sections (all by default; ``--only NAME ...`` picks some):

- ``tokens``: tokens per record for the five types, with and without a
  timestamp, next to the JSON and ``k=v`` encodings of the same records.
- ``ingest``: sustained ingest (tokens/s, records/s) at steady state, side by
  side with llama-bench's prompt-processing rate for the same model and
  threads, alternating the two ``--rounds`` times.
- ``flash``: flash refresh time after a batch for 1, 5 and 20 queries.
- ``memory``: process RSS with 1 and 8 sessions each holding a full window.
- ``equivalence``: greedy answers and first-step logits of the incremental
  state after many slides vs a context rebuilt from scratch.

Prints markdown tables and writes ``bench/out/engine.json``.
Run: ``python bench/bench_engine.py`` (llama-bench from ``bench/build_peer.sh``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

import benchlib
from benchlib import OHLCV_QUESTIONS, Record, median, table
from streaminfer import _core
from streaminfer.models import resolve_model

QUESTIONS = OHLCV_QUESTIONS
assert len(set(QUESTIONS)) == 20

SECTIONS = ("tokens", "ingest", "flash", "memory", "equivalence")


def new_id() -> str:
    return f"sess_{secrets.token_hex(12)}"


def settled(session: _core.Session, enqueued: int) -> bool:
    st = session.state()
    return bool(
        st["total_enqueued"] == enqueued
        and st["items_processed"] + st["skipped"] == enqueued
        and st["queue_size"] == 0
    )


def wait_settled(session: _core.Session, enqueued: int, timeout: float = 600.0) -> dict[str, Any]:
    benchlib.wait_until(lambda: settled(session, enqueued), timeout, f"{session.session_id} to settle")
    return session.state()


def flash_fresh(session: _core.Session) -> bool:
    """Every flash query answered at the session's current data_version."""
    version = session.data_version()
    return all(q["has_answer"] and q["data_version"] == version for q in session.list_flash())


def fill_window(session: _core.Session, records: list[Record]) -> dict[str, Any]:
    """Push ``records`` (at most a window's worth per push) and wait until each push is decoded."""
    done = session.state()["total_enqueued"]
    step = session.window_size
    for i in range(0, len(records), step):
        chunk = records[i : i + step]
        session.push(chunk)
        done += len(chunk)
        wait_settled(session, done)
    if session.flash_count():
        benchlib.wait_until(lambda: flash_fresh(session), 300, "flash answers")
    return session.state()


# ---------------------------------------------------------------- tokens per record


def tokens_per_record(engine: _core.Engine, n: int = 50) -> dict[str, Any]:
    tok = engine.model.tokenize
    rows: list[dict[str, Any]] = []
    for data_type in _core.DATA_TYPES:
        for timestamp in (False, True):
            recs = benchlib.sample_records(data_type, n, seed=7, timestamp=timestamp)
            lines = [_core.format_record(data_type, r) for r in recs]
            rows.append(
                {
                    "type": data_type,
                    "timestamp": timestamp,
                    "compact": float(np.mean([len(tok(line)) for line in lines])),
                    "json": float(np.mean([len(tok(json.dumps(r))) for r in recs])),
                    "kv": float(np.mean([len(tok(benchlib.kv_encoding(r))) for r in recs])),
                    "example_record": recs[1],
                    "example_compact": lines[1].rstrip("\n"),
                    "example_json": json.dumps(recs[1]),
                    "example_kv": benchlib.kv_encoding(recs[1]),
                }
            )
    return {"n_samples": n, "rows": rows, "headers": {t: _core.record_header(t) for t in _core.DATA_TYPES}}


def in_context_tokens(engine: _core.Engine, n: int = 24) -> dict[str, dict[str, float]]:
    """Tokens per record as the engine counts them after decoding (``total_data_tokens``),
    next to ``tokenize(format_record(...))`` of the same records."""
    out: dict[str, dict[str, float]] = {}
    for data_type in _core.DATA_TYPES:
        recs = benchlib.sample_records(data_type, n, seed=7, timestamp=True)
        session = engine.create_session(new_id(), data_type, window_size=n)
        session.push(recs)
        st = wait_settled(session, n)
        tokenized = sum(len(engine.model.tokenize(_core.format_record(data_type, r))) for r in recs)
        out[data_type] = {
            "engine": st["total_data_tokens"] / max(1, st["items_processed"]),
            "tokenize": tokenized / n,
        }
        engine.destroy_session(session.session_id)
    return out


ISSUE_EXAMPLE: Record = {"o": 185.5, "h": 186.2, "l": 185.1, "c": 185.9, "v": 12345}


def reference_record(engine: _core.Engine) -> dict[str, Any]:
    """A one-decimal OHLCV record: its tokens as JSON, ``k=v`` and our compact line."""
    tok = engine.model.tokenize
    line = _core.format_record("ohlcv", ISSUE_EXAMPLE)
    return {
        "record": ISSUE_EXAMPLE,
        "compact": len(tok(line)),
        "compact_text": line.rstrip("\n"),
        "json": len(tok(json.dumps(ISSUE_EXAMPLE))),
        "kv": len(tok(benchlib.kv_encoding(ISSUE_EXAMPLE))),
    }


def report_tokens(result: dict[str, Any]) -> str:
    rows = [
        (
            r["type"],
            "yes" if r["timestamp"] else "no",
            f"{r['compact']:.1f}",
            f"{r['json']:.1f}",
            f"{r['kv']:.1f}",
            f"{r['json'] / r['compact']:.2f}x",
        )
        for r in result["rows"]
    ]
    out = [table(("type", "timestamp", "compact (ours)", "JSON", "k=v", "JSON / ours"), rows)]
    if "in_context" in result:
        measured = ", ".join(
            f"{t} {v['engine']:.2f} (tokenize: {v['tokenize']:.2f})" for t, v in result["in_context"].items()
        )
        out.append(f"\nIn context, 24 records with timestamp (total_data_tokens / records): {measured}")
    if "reference_record" in result:
        ex = result["reference_record"]
        out.append(
            f"\nThe reference OHLCV record `{json.dumps(ex['record'])}`: ours `{ex['compact_text']}` "
            f"{ex['compact']} tokens, JSON {ex['json']}, k=v {ex['kv']}."
        )
    out.append("\nExamples (with timestamp):\n")
    for r in result["rows"]:
        if r["timestamp"]:
            out.append(
                f"- `{r['type']}` compact `{r['example_compact']}`; JSON `{r['example_json']}`; "
                f"k=v `{r['example_kv']}`"
            )
    return "\n".join(out)


# ---------------------------------------------------------------- ingest


def sustained_ingest(engine: _core.Engine, seconds: float, warmup_s: float) -> dict[str, Any]:
    """Keep between half a window and a window of records in flight, so the decoder never
    idles and nothing is skipped; measure over ``seconds`` after ``warmup_s``."""
    session = engine.create_session(new_id(), "ohlcv")
    window = session.window_size
    records = benchlib.ohlcv_series(200_000, seed=int(time.time()))
    nxt = 0

    def feed() -> None:
        nonlocal nxt
        st = session.state()
        in_flight = st["total_enqueued"] - st["items_processed"] - st["skipped"]
        if in_flight < window // 2:
            n = window - in_flight
            session.push(records[nxt : nxt + n])
            nxt += n

    def run_for(duration: float) -> None:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            feed()
            time.sleep(0.002)

    run_for(warmup_s)
    s0, t0 = session.state(), time.monotonic()
    run_for(seconds)
    s1, t1 = session.state(), time.monotonic()
    engine.destroy_session(session.session_id)

    def delta(key: str) -> int:
        return int(s1[key] - s0[key])

    tokens, recs, busy_us = (
        delta("total_data_tokens"),
        delta("items_processed"),
        delta("total_process_time_us"),
    )
    wall = t1 - t0
    return {
        "window_size": window,
        "wall_s": wall,
        "tokens": tokens,
        "records": recs,
        "batches": delta("batches_processed"),
        "skipped_total": int(s1["skipped"]),
        "evicted_total": int(s1["evicted"]),
        "tokens_per_s_wall": tokens / wall,
        "records_per_s_wall": recs / wall,
        "tokens_per_s_decode": tokens / (busy_us / 1e6) if busy_us else 0.0,
        "records_per_s_decode": recs / (busy_us / 1e6) if busy_us else 0.0,
        "tokens_per_record": tokens / max(1, recs),
        "depth_end": int(s1["pos_next"]),
    }


def ingest_rounds(
    engine: _core.Engine, model: str, threads: int, rounds: int, seconds: float
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        pp = benchlib.llama_bench_pp(model, threads)
        pp_depth = benchlib.llama_bench_pp(model, threads, depth=1024, reps=2)
        ours = sustained_ingest(engine, seconds, warmup_s=5.0)
        ours["llama_bench_pp512"] = pp
        ours["llama_bench_pp512_d1024"] = pp_depth
        ours["ratio_wall"] = ours["tokens_per_s_wall"] / pp if pp else None
        ours["ratio_decode"] = ours["tokens_per_s_decode"] / pp if pp else None
        runs.append(ours)
        print(
            f"  ingest round {r + 1}: {ours['tokens_per_s_wall']:.0f} tok/s wall, "
            f"{ours['tokens_per_s_decode']:.0f} tok/s decode, llama-bench pp512 {pp}",
            flush=True,
        )
    keys = (
        "tokens_per_s_wall",
        "tokens_per_s_decode",
        "records_per_s_wall",
        "records_per_s_decode",
        "llama_bench_pp512",
        "llama_bench_pp512_d1024",
        "ratio_wall",
        "ratio_decode",
        "tokens_per_record",
    )
    summary = {k: median([run[k] for run in runs if run[k] is not None]) for k in keys}
    return {
        "runs": runs,
        "median": summary,
        "seconds": seconds,
        "llama_bench_command": benchlib.llama_bench_command(threads),
        "llama_bench_depth_command": benchlib.llama_bench_command(threads, depth=1024, reps=2),
    }


def report_ingest(result: dict[str, Any]) -> str:
    m = result["median"]
    rows: list[tuple[Any, ...]] = [
        (
            i + 1,
            f"{r['tokens_per_s_wall']:.0f}",
            f"{r['tokens_per_s_decode']:.0f}",
            f"{r['records_per_s_wall']:.2f}",
            f"{r['llama_bench_pp512'] or 0:.0f}",
            f"{r['llama_bench_pp512_d1024'] or 0:.0f}",
            f"{r['ratio_wall'] or 0:.2f}",
            r["skipped_total"],
        )
        for i, r in enumerate(result["runs"])
    ]
    rows.append(
        (
            "median",
            f"{m['tokens_per_s_wall']:.0f}",
            f"{m['tokens_per_s_decode']:.0f}",
            f"{m['records_per_s_wall']:.2f}",
            f"{m['llama_bench_pp512']:.0f}",
            f"{m['llama_bench_pp512_d1024']:.0f}",
            f"{m['ratio_wall']:.2f}",
            "",
        )
    )
    header = (
        "round",
        "ours tok/s (wall)",
        "ours tok/s (decode time)",
        "ours records/s",
        "llama-bench pp512 tok/s",
        "pp512 @ depth 1024",
        "ours wall / pp512",
        "skipped",
    )
    return table(header, rows) + f"\n\nTokens per record in context: {m['tokens_per_record']:.1f}"


# ---------------------------------------------------------------- flash fan-out


def flash_fanout(
    engine: _core.Engine, counts: tuple[int, ...], steps: int, batch: int = 4, window: int = 32
) -> dict[str, Any]:
    sessions: dict[int, _core.Session] = {}
    enqueued: dict[int, int] = {}
    seed = int(time.time())
    data = {n: benchlib.ohlcv_series(window + steps * batch, seed=seed + n) for n in counts}
    for n in counts:
        flash = [(q, 4) for q in QUESTIONS[:n]]
        sessions[n] = engine.create_session(new_id(), "ohlcv", window_size=window, flash=flash)
        fill_window(sessions[n], data[n][:window])
        enqueued[n] = window
    times: dict[int, list[dict[str, int]]] = {n: [] for n in counts}
    for step in range(steps):
        for n in counts:  # interleaved: the counts see the same machine state
            s = sessions[n]
            runs0 = s.state()["flash_runs"]
            chunk = data[n][window + step * batch : window + (step + 1) * batch]
            t0 = time.monotonic()
            s.push(chunk)
            enqueued[n] += len(chunk)
            wait_settled(s, enqueued[n])
            benchlib.wait_until(functools.partial(flash_fresh, s), 300, "flash answers")
            wall_us = int((time.monotonic() - t0) * 1e6)
            st = s.state()
            times[n].append(
                {
                    "last_flash_time_us": int(st["last_flash_time_us"]),
                    "flash_runs": int(st["flash_runs"] - runs0),
                    "push_to_fresh_us": wall_us,
                }
            )
    out: dict[str, Any] = {"window": window, "batch": batch, "max_tokens": 4, "steps": steps, "per_count": {}}
    for n in counts:
        st = sessions[n].state()
        out["per_count"][str(n)] = {
            "steps": times[n],
            "median_last_flash_ms": median([t["last_flash_time_us"] for t in times[n]]) / 1e3,
            "avg_flash_time_ms": st["avg_flash_time_us"] / 1e3,
            "median_push_to_fresh_ms": median([t["push_to_fresh_us"] for t in times[n]]) / 1e3,
            "query_tokens": sum(q["n_tokens"] for q in sessions[n].list_flash()),
        }
        engine.destroy_session(sessions[n].session_id)
    base = out["per_count"][str(counts[0])]["median_last_flash_ms"]
    for n in counts:
        pc = out["per_count"][str(n)]
        pc["ratio_vs_1"] = pc["median_last_flash_ms"] / base if base else None
    return out


def report_flash(result: dict[str, Any]) -> str:
    rows = [
        (
            n,
            pc["query_tokens"],
            f"{pc['median_last_flash_ms']:.0f}",
            f"{pc['avg_flash_time_ms']:.0f}",
            f"{pc['ratio_vs_1']:.2f}x",
            f"{pc['median_push_to_fresh_ms']:.0f}",
        )
        for n, pc in result["per_count"].items()
    ]
    header = (
        "flash queries",
        "question tokens",
        "refresh ms (median last_flash_time_us)",
        "avg_flash_time_us (ms)",
        "vs 1 query",
        "push -> all fresh ms (4 records + refresh)",
    )
    return table(header, rows)


# ---------------------------------------------------------------- memory


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss / 2**20)


def memory(model: str, threads: int, ctx: int = 2048, counts: tuple[int, ...] = (1, 8)) -> dict[str, Any]:
    before = rss_mb()
    engine = _core.Engine(model, n_ctx=ctx, n_threads=threads)
    loaded = rss_mb()
    sessions: list[_core.Session] = []
    out: dict[str, Any] = {
        "ctx": ctx,
        "rss_mb_before_engine": before,
        "rss_mb_engine_loaded": loaded,
        "sessions": {},
    }
    for n in counts:
        while len(sessions) < n:
            s = engine.create_session(new_id(), "ohlcv", context_size=ctx)
            fill_window(s, benchlib.ohlcv_series(s.window_size, seed=len(sessions)))
            sessions.append(s)
        st = sessions[-1].state()
        out["sessions"][str(n)] = {
            "rss_mb": rss_mb(),
            "window_size": st["window_size"],
            "data_count": st["data_count"],
            "pos_next": st["pos_next"],
        }
    engine.close()
    n_lo, n_hi = (str(c) for c in (counts[0], counts[-1]))
    per = (out["sessions"][n_hi]["rss_mb"] - out["sessions"][n_lo]["rss_mb"]) / (counts[-1] - counts[0])
    out["mb_per_extra_session"] = per
    return out


def report_memory(result: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = [
        ("python + _core imported", f"{result['rss_mb_before_engine']:.0f}"),
        ("engine loaded, 0 sessions", f"{result['rss_mb_engine_loaded']:.0f}"),
    ]
    for n, v in result["sessions"].items():
        rows.append(
            (
                f"{n} session(s), each window full ({v['data_count']} records, {v['pos_next']} tokens)",
                f"{v['rss_mb']:.0f}",
            )
        )
    return (
        table(("state (context 2048 per session)", "RSS MiB"), rows)
        + f"\n\nPer extra session: {result['mb_per_extra_session']:.1f} MiB"
    )


# ---------------------------------------------------------------- equivalence


def push_in_batches(session: _core.Session, records: list[Record], batch: int) -> dict[str, Any]:
    for i in range(0, len(records), batch):
        session.push(records[i : i + batch])
        wait_settled(session, i + len(records[i : i + batch]))
    return session.state()


# The pairs compared: (label, left session, right session).
PAIRS = (
    ("incremental vs rebuild", "incremental", "rebuild"),
    ("chunked vs rebuild (batching only, no eviction)", "chunked", "rebuild"),
    ("rebuild vs rebuild (control)", "rebuild2", "rebuild"),
)


def compare(answers: dict[str, list[dict[str, Any]]], left: str, right: str) -> dict[str, Any]:
    """Agreement of greedy answers (8 and 4 tokens) and the first step's logits of two sessions."""
    n = len(answers[left])
    diffs, top1, agree8, agree4 = [], 0, 0, 0
    for a, b in zip(answers[left], answers[right], strict=True):
        la, lb = np.asarray(a["logits"], dtype=np.float64), np.asarray(b["logits"], dtype=np.float64)
        diffs.append(float(np.max(np.abs(la - lb))))
        top1 += int(np.argmax(la) == np.argmax(lb))
        agree8 += a["text"] == b["text"]
        agree4 += a["text4"] == b["text4"]
    return {
        "agreement_8": agree8 / n,
        "agreement_4": agree4 / n,
        "first_token_agreement": top1 / n,
        "max_abs_logit_diff": max(diffs),
        "median_max_abs_logit_diff": median(diffs),
    }


def equivalence(
    engine: _core.Engine, window: int, n_records: int, batch: int = 4, questions: list[str] = QUESTIONS[:12]
) -> dict[str, Any]:
    """After ``n_records`` pushed ``batch`` at a time into a window of ``window`` records
    (many slides), the incremental session against sessions rebuilt from the same prefix
    and the records now in its window."""
    records = benchlib.ohlcv_series(n_records, seed=int(time.time()) + window)
    kept = records[-window:]
    sessions = {
        name: engine.create_session(new_id(), "ohlcv", window_size=window)
        for name in ("incremental", "rebuild", "rebuild2", "chunked")
    }
    st = push_in_batches(sessions["incremental"], records, batch)
    assert st["skipped"] == 0 and st["data_count"] == window, st
    for name in ("rebuild", "rebuild2"):
        sessions[name].push(kept)
        wait_settled(sessions[name], window)
    push_in_batches(sessions["chunked"], kept, batch)
    ref = sessions["rebuild"]
    same_text = all(s.context_text() == ref.context_text() for s in sessions.values())
    same_pos = all(s.state()["pos_next"] == ref.state()["pos_next"] for s in sessions.values())
    answers: dict[str, list[dict[str, Any]]] = {name: [] for name in sessions}
    for q in questions:
        for name, s in sessions.items():
            full = s.probe(q, 8)
            answers[name].append(
                {"text": full["text"], "text4": s.probe(q, 4)["text"], "logits": full["logits"]}
            )
    for s in sessions.values():
        engine.destroy_session(s.session_id)
    return {
        "window": window,
        "records_pushed": n_records,
        "batch": batch,
        "evicted": int(st["evicted"]),
        "same_context_text": same_text,
        "same_pos_next": same_pos,
        "pairs": {label: compare(answers, left, right) for label, left, right in PAIRS},
        "answers": {
            name: [
                {"question": q, "text": a["text"], "text4": a["text4"]}
                for q, a in zip(questions, lst, strict=True)
            ]
            for name, lst in answers.items()
        },
    }


def report_equivalence(results: list[dict[str, Any]]) -> str:
    rows = [
        (
            r["window"],
            r["evicted"],
            label,
            f"{c['agreement_8']:.0%}",
            f"{c['agreement_4']:.0%}",
            f"{c['first_token_agreement']:.0%}",
            f"{c['max_abs_logit_diff']:.4f}",
            f"{c['median_max_abs_logit_diff']:.4f}",
        )
        for r in results
        for label, c in r["pairs"].items()
    ]
    header = (
        "W",
        "records evicted",
        "sessions compared",
        "greedy agreement, 8 tokens",
        "4 tokens",
        "first token",
        "largest abs logit diff",
        "median over questions",
    )
    same = all(r["same_context_text"] and r["same_pos_next"] for r in results)
    n_q = len(next(iter(results[0]["answers"].values())))
    return (
        table(header, rows)
        + f"\n\n{n_q} questions per W; identical context text and positions in every session: {same}."
    )


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="known model name or GGUF path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="ingest rounds (ours + llama-bench each)")
    p.add_argument("--ingest-seconds", type=float, default=20.0)
    p.add_argument("--flash-steps", type=int, default=5)
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--out", default="engine.json", help="file name under bench/out/")
    p.add_argument("--report", action="store_true", help="only print the tables of an earlier --out JSON")
    return p.parse_args()


def timed(name: str, fn: Callable[[], Any]) -> Any:
    print(f"== {name}", flush=True)
    t0 = time.monotonic()
    result = fn()
    print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    return result


def run_equivalence(model: str, threads: int) -> list[dict[str, Any]]:
    engine = _core.Engine(model, n_ctx=4096, n_threads=threads)
    try:
        return [equivalence(engine, 16, 160), equivalence(engine, 64, 224)]
    finally:
        engine.close()


def measure(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """Runs the chosen sections, saving the JSON after each one."""
    only = "" if set(args.only) == set(SECTIONS) else " --only " + " ".join(args.only)
    results: dict[str, Any] = {
        "machine": benchlib.machine(),
        "model": model,
        "threads": args.threads,
        "command": f"python bench/bench_engine.py{only}",
        "load_before": os.getloadavg(),
    }
    if "memory" in args.only:  # first: a fresh engine in a process that has not decoded anything yet
        results["memory"] = timed("memory", lambda: memory(model, args.threads))
        benchlib.write_json(args.out, results)
    engine = _core.Engine(model, n_ctx=2048, n_threads=args.threads)
    try:
        sections: list[tuple[str, Callable[[], Any]]] = [
            ("tokens", lambda: tokens_section(engine)),
            ("ingest", lambda: ingest_rounds(engine, model, args.threads, args.rounds, args.ingest_seconds)),
            ("flash", lambda: flash_fanout(engine, (1, 5, 20), args.flash_steps)),
            ("equivalence", lambda: run_equivalence(model, args.threads)),
        ]
        for name, run in sections:
            if name in args.only:
                results[name] = timed(name, run)
                benchlib.write_json(args.out, results)
    finally:
        engine.close()
    results["load_after"] = os.getloadavg()
    return results


def tokens_section(engine: _core.Engine) -> dict[str, Any]:
    out = tokens_per_record(engine)
    out["in_context"] = in_context_tokens(engine)
    out["reference_record"] = reference_record(engine)
    return out


def report(results: dict[str, Any]) -> str:
    out = [
        f"# Engine benchmark\n\n{benchlib.machine_line(results['machine'])}; model {results['model']}; "
        f"{results['threads']} threads\n"
    ]
    reports: dict[str, Callable[[Any], str]] = {
        "tokens": report_tokens,
        "ingest": report_ingest,
        "flash": report_flash,
        "memory": report_memory,
        "equivalence": report_equivalence,
    }
    for name in SECTIONS:
        if name in results:
            out.append(f"## {name}\n\n{reports[name](results[name])}\n")
    return "\n".join(out)


def main() -> int:
    args = parse_args()
    if args.report:
        results = json.loads((benchlib.OUT_DIR / args.out).read_text())
    else:
        results = measure(args, str(resolve_model(args.model)))
    print(report(results))
    print(f"JSON: {benchlib.OUT_DIR / args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
