"""The core's typed results -> the exact response shapes of docs/api.md.

This module is the one place where wire names are written: routes pass it
what ``streaminfer._core`` returns (``SessionState``, ``FlashInfo``, ...) and
send what it builds. Events from the core arrive as dicts; ``as_int`` and
friends read them so that an int is never sent as ``12.0`` and a float is
always a JSON number (clients validate types strictly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from streaminfer.server import responses as r

if TYPE_CHECKING:
    from streaminfer import _core
    from streaminfer.server.registry import SessionEntry


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def as_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else 0.0
    return 0.0


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def finite(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats become 0.0 (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else 0.0
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _data_region(state: _core.SessionState) -> r.DataRegion:
    return {"start": state.prefix_end, "end": state.pos_next, "window_size": state.window_size}


def session_summary(session_id: str, entry: SessionEntry, state: _core.SessionState) -> r.SessionSummary:
    """An item of ``GET /v1/sessions``: the window's extent and the entry's timestamps."""
    return {
        "session_id": session_id,
        "n_tokens": state.pos_next,
        "context_size": state.context_size,
        "prefix_end": state.prefix_end,
        "last_inject_us": state.last_inject_us,
        "cache_usage": state.pos_next / state.context_size if state.context_size else 0.0,
        "created_at": entry.created_at,
        "last_used_at": entry.last_used_at,
        "in_use": entry.in_use,
        "idle_s": entry.idle_s(),
        "expires_in_s": entry.expires_in_s(),
        "kv_bytes": entry.kv_bytes,
    }


def session_created(session_id: str, session: _core.Session, state: _core.SessionState) -> r.SessionCreated:
    """``POST /v1/sessions/init``."""
    return {
        "session_id": session_id,
        "type": state.data_type,
        "n_tokens": state.prefix_end,
        "context_size": state.context_size,
        "window_size": state.window_size,
        "flash_queries": session.flash_count(),
        "pos_max": state.pos_max,
    }


def session_saved(cp: _core.Checkpoint, log_bytes: int) -> r.SessionSaved:
    """``POST /v1/sessions/{id}/save``."""
    return {
        "success": True,
        "data_version": cp.data_version,
        "window_records": sum("record" in e for e in cp.window),
        "pending_records": cp.counters["total_enqueued"] - cp.next_seq,
        "kv_state_bytes": len(cp.kv_state),
        "log_bytes": log_bytes,
    }


def session_state(
    session_id: str, entry: SessionEntry, state: _core.SessionState, context_text: str
) -> r.SessionState:
    """``GET /v1/sessions/{id}/state``."""
    return {
        **session_summary(session_id, entry, state),
        "type": state.data_type,
        "pos_min": state.pos_min,
        "pos_max": state.pos_max,
        "pos_next": state.pos_next,
        "data_region": _data_region(state),
        "data_count": state.data_count,
        "context_text": context_text,
    }


def stream_status(state: _core.SessionState) -> r.StreamStatus:
    """``GET /v1/sessions/{id}/stream/status``."""
    counters = state.counters
    batches = counters.batches_processed
    return {
        "type": state.data_type,
        "streaming": {
            "initialized": True,
            "running": state.running,
            "error": state.error,
            "queue_size": state.queue_size,
            "queue_capacity": state.queue_capacity,
            "window_size": state.window_size,
            # Records are decoded as they arrive: there is no processing interval.
            "process_interval_us": 0,
        },
        "statistics": {
            "total_enqueued": counters.total_enqueued,
            "total_dropped": counters.total_dropped,
            "skipped": counters.skipped,
            "batches_processed": batches,
            "items_processed": counters.items_processed,
            "total_process_time_us": counters.total_process_time_us,
            "avg_process_time_us": counters.total_process_time_us / batches if batches > 0 else 0.0,
        },
        "data": {
            "initialized": True,
            "data_count": state.data_count,
            "total_data_tokens": counters.total_data_tokens,
            "pos_next": state.pos_next,
        },
    }


def slots(state: _core.SessionState) -> r.Slots:
    """``GET /v1/sessions/{id}/slots``: the context's three regions."""
    ends = (state.prefix_end, state.pos_next, state.context_size)
    slots: list[r.Slot] = [
        {"name": "prefix", "start": 0, "end": ends[0], "n_tokens": ends[0]},
        {"name": "data", "start": ends[0], "end": ends[1], "n_tokens": ends[1] - ends[0]},
        {"name": "free", "start": ends[1], "end": ends[2], "n_tokens": ends[2] - ends[1]},
    ]
    return {
        "slots": slots,
        "prefix_end": state.prefix_end,
        "data_region": _data_region(state),
        "pos_next": state.pos_next,
        "total_tokens": state.pos_next,
    }


def appended(result: _core.AppendResult) -> r.Appended:
    """``POST /v1/sessions/{id}/append``."""
    end = result.pos_next
    return {"n_tokens_added": result.n_tokens_added, "total_tokens": end, "pos_max": end - 1}


def prefix_marked(mark: _core.PrefixMark) -> r.PrefixMarked:
    """``POST /v1/sessions/{id}/mark_prefix``."""
    message = f"prefix marked: positions [0, {mark.prefix_end}) are frozen"
    if mark.n_records_frozen:
        message += f" ({mark.n_records_frozen} records included)"
    return {"prefix_end": mark.prefix_end, "message": message}


def _flash_head(info: _core.FlashInfo) -> r.FlashHead:
    return {"id": info.id, "query": info.query, "max_tokens": info.max_tokens, "n_tokens": info.n_tokens}


def flash_registered(info: _core.FlashInfo, total: int) -> r.FlashRegistered:
    """``POST /v1/sessions/{id}/flash``."""
    return {**_flash_head(info), "total_flash_queries": total, "status": "registered"}


def flash_query(info: _core.FlashInfo) -> r.FlashQuery:
    """An item of ``GET /v1/sessions/{id}/flash``."""
    return {
        **_flash_head(info),
        "has_answer": info.has_answer,
        "value": info.value,
        "data_version": info.data_version,
        "confidence": as_float(info.confidence),
        "evaluated_at": info.evaluated_at,
        "last_evaluated_ms": info.evaluated_at,
    }


def cached_answer(info: _core.FlashInfo, state: _core.SessionState) -> r.Generated:
    """``POST /v1/sessions/{id}/generate`` answered from a fresh flash query."""
    return {
        "text": info.value,
        "n_tokens": info.answer_tokens,
        "tokens_generated": 0,
        "total_tokens": state.pos_next,
        "pos_max": state.pos_max,
        "from_cache": True,
        "confidence": as_float(info.confidence),
        "flash": True,
        "flash_id": info.id,
        "data_version": info.data_version,
        "logit_gap": as_float(info.logit_gap),
    }


def generated(event: Mapping[str, Any]) -> r.Generated:
    """``POST /v1/sessions/{id}/generate`` from a ``generate_done`` event."""
    n_tokens = as_int(event.get("n_tokens"))
    pos_next = as_int(event.get("pos_next"))
    return {
        "text": as_str(event.get("text")),
        "n_tokens": n_tokens,
        "tokens_generated": n_tokens,
        "total_tokens": pos_next,
        "pos_max": pos_next - 1,
        "from_cache": False,
        "confidence": as_float(event.get("confidence")),
        "flash": False,
        "flash_id": None,
        "data_version": as_int(event.get("data_version")),
        "logit_gap": as_float(event.get("logit_gap")),
    }


SessionEvent = r.FlashReadyEvent | r.DataUpdatedEvent | r.SessionErrorEvent


def session_event(event: Mapping[str, Any]) -> SessionEvent | None:
    """The wire form of a session event (SSE data and WebSocket ``data``), None for others."""
    kind = event.get("type")
    if kind == "flash_ready":
        return {
            "type": "flash_ready",
            "id": as_int(event.get("id")),
            "query": as_str(event.get("query")),
            "value": as_str(event.get("value")),
            "confidence": as_float(event.get("confidence")),
            "data_version": as_int(event.get("data_version")),
            "evaluated_at": as_int(event.get("evaluated_at")),
        }
    if kind == "data_updated":
        return {
            "type": "data_updated",
            "data_version": as_int(event.get("data_version")),
            "data_count": as_int(event.get("data_count")),
            "pos_next": as_int(event.get("pos_next")),
        }
    if kind == "error":
        return {"type": "error", "message": as_str(event.get("message")) or "decoding failed"}
    return None


def push_result(result: _core.PushResult) -> r.PushResult:
    """``POST /v1/sessions/{id}/stream/push`` (the WebSocket ``push_ack`` is its first three)."""
    return {
        "pushed": result.pushed,
        "dropped": result.dropped,
        "queue_size": result.queue_size,
        "queue_capacity": result.queue_capacity,
        "total_enqueued": result.total_enqueued,
        "total_dropped": result.total_dropped,
    }


def session_list(items: list[r.SessionSummary], max_sessions: int) -> r.SessionList:
    """``GET /v1/sessions``."""
    return {"sessions": items, "count": len(items), "max_sessions": max_sessions}


def flash_list(items: list[r.FlashQuery], data_version: int) -> r.FlashList:
    """``GET /v1/sessions/{id}/flash``."""
    return {
        "flash_queries": items,
        "queries": items,
        "count": len(items),
        "current_data_version": data_version,
    }


def window_stats(stats: Mapping[str, Any], latency: list[_core.StageLatency]) -> r.WindowStats:
    """``GET /v1/sessions/{id}/stats``: the core's window statistics and its stage latencies."""
    ms = 1e-3
    stages: dict[str, r.StageLatency] = {
        stage.name: {
            "count": stage.count,
            "mean_ms": stage.sum_us * ms / stage.count if stage.count else 0.0,
            "p50_ms": as_float(stage.p50_us) * ms,
            "p95_ms": as_float(stage.p95_us) * ms,
            "p99_ms": as_float(stage.p99_us) * ms,
        }
        for stage in latency
    }
    out: r.WindowStats = finite(dict(stats))
    out["latency"] = stages
    return out


# -- OpenAI-compatible chat -------------------------------------------------------------

FinishReason = Literal["stop", "length"]


class ChatHead(NamedTuple):
    """What every object of one chat completion repeats."""

    id: str
    created: int
    session_id: str


def finish_reason(event: Mapping[str, Any]) -> FinishReason:
    return "length" if event.get("finish_reason") == "length" else "stop"


def _chat(
    head: ChatHead,
    text: str,
    reason: FinishReason,
    usage: tuple[int, int],
    cached: bool,
    info: tuple[float, int],
) -> r.ChatCompletion:
    prompt_tokens, completion_tokens = usage
    return {
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.session_id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "streaminfer": {
            "session_id": head.session_id,
            "from_cache": cached,
            "confidence": as_float(info[0]),
            "data_version": info[1],
        },
    }


def chat_generated(head: ChatHead, event: Mapping[str, Any]) -> r.ChatCompletion:
    """``POST /v1/chat/completions`` from a ``generate_done`` event."""
    usage = (as_int(event.get("prompt_tokens")), as_int(event.get("n_tokens")))
    info = (as_float(event.get("confidence")), as_int(event.get("data_version")))
    return _chat(head, as_str(event.get("text")), finish_reason(event), usage, False, info)


def chat_cached(head: ChatHead, flash: _core.FlashInfo) -> r.ChatCompletion:
    """``POST /v1/chat/completions`` answered from a fresh flash query (no tokens spent now)."""
    reason: FinishReason = "length" if flash.answer_tokens >= flash.max_tokens else "stop"
    return _chat(
        head, flash.value, reason, (0, flash.answer_tokens), True, (flash.confidence, flash.data_version)
    )


def chat_chunk(head: ChatHead, delta: r.ChatDelta, reason: FinishReason | None) -> r.ChatCompletionChunk:
    """One event of a streamed chat completion."""
    return {
        "id": head.id,
        "object": "chat.completion.chunk",
        "created": head.created,
        "model": head.session_id,
        "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
    }
