"""Tokens per record: what a record costs in the context, for the five record types,
with and without a timestamp.

Our compact line (``_core.format_record``) beside the JSON and ``k=v``
encodings of the same random records, tokenized by the model's tokenizer; and
the count the engine itself reports after decoding, as a check that the line
tokenized here is the line in the context. Fewer tokens per record is what
makes ingest cheaper and a window deeper for the same context.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench import engine_state
from bench.context import Context
from bench.report import table
from bench.workload import Record, kv_encoding, sample_records
from streaminfer import _core

# A one-decimal OHLCV record, the example of the docs.
REFERENCE_RECORD: Record = {"o": 185.5, "h": 186.2, "l": 185.1, "c": 185.9, "v": 12345}


def tokens_per_record(engine: _core.Engine, n: int = 50) -> dict[str, Any]:
    tok = engine.model.tokenize
    rows: list[dict[str, Any]] = []
    for data_type in _core.DATA_TYPES:
        for timestamp in (False, True):
            recs = sample_records(data_type, n, seed=7, timestamp=timestamp)
            lines = [_core.format_record(data_type, r) for r in recs]
            rows.append(
                {
                    "type": data_type,
                    "timestamp": timestamp,
                    "compact": float(np.mean([len(tok(line)) for line in lines])),
                    "json": float(np.mean([len(tok(json.dumps(r))) for r in recs])),
                    "kv": float(np.mean([len(tok(kv_encoding(r))) for r in recs])),
                    "example_record": recs[1],
                    "example_compact": lines[1].rstrip("\n"),
                    "example_json": json.dumps(recs[1]),
                    "example_kv": kv_encoding(recs[1]),
                }
            )
    return {"n_samples": n, "rows": rows, "headers": {t: _core.record_header(t) for t in _core.DATA_TYPES}}


def in_context_tokens(engine: _core.Engine, n: int = 24) -> dict[str, dict[str, float]]:
    """Tokens per record as the engine counts them after decoding, next to
    ``tokenize(format_record(...))`` of the same records."""
    out: dict[str, dict[str, float]] = {}
    for data_type in _core.DATA_TYPES:
        recs = sample_records(data_type, n, seed=7, timestamp=True)
        session = engine.create_session(engine_state.new_session_id(), data_type, window_size=n)
        session.push(recs)
        st = engine_state.wait_settled(session, n)
        tokenized = sum(len(engine.model.tokenize(_core.format_record(data_type, r))) for r in recs)
        out[data_type] = {"engine": st.data_tokens / max(1, st.processed), "tokenize": tokenized / n}
        engine.destroy_session(session.session_id)
    return out


def reference_record(engine: _core.Engine) -> dict[str, Any]:
    """The reference OHLCV record's tokens as JSON, ``k=v`` and our compact line."""
    tok = engine.model.tokenize
    line = _core.format_record("ohlcv", REFERENCE_RECORD)
    return {
        "record": REFERENCE_RECORD,
        "compact": len(tok(line)),
        "compact_text": line.rstrip("\n"),
        "json": len(tok(json.dumps(REFERENCE_RECORD))),
        "kv": len(tok(kv_encoding(REFERENCE_RECORD))),
    }


def run(ctx: Context) -> dict[str, Any]:
    engine = ctx.engine()
    out = tokens_per_record(engine)
    out["in_context"] = in_context_tokens(engine)
    out["reference_record"] = reference_record(engine)
    return out


def report(result: dict[str, Any]) -> str:
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
