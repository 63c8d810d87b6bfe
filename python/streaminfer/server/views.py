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
from typing import TYPE_CHECKING, Any

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


def _data_region(state: _core.SessionState) -> dict[str, int]:
    return {"start": state.prefix_end, "end": state.pos_next, "window_size": state.window_size}


def _usage(entry: SessionEntry, state: _core.SessionState) -> dict[str, Any]:
    """The fields every session listing shares: the window's extent and the entry's timestamps."""
    return {
        "n_tokens": state.pos_next,
        "context_size": state.context_size,
        "prefix_end": state.prefix_end,
        "last_inject_us": state.last_inject_us,
        "cache_usage": state.pos_next / state.context_size if state.context_size else 0.0,
        "created_at": entry.created_at,
        "last_used_at": entry.last_used_at,
        "in_use": entry.in_use,
    }


def session_created(session_id: str, session: _core.Session, state: _core.SessionState) -> dict[str, Any]:
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


def session_summary(session_id: str, entry: SessionEntry, state: _core.SessionState) -> dict[str, Any]:
    """An item of ``GET /v1/sessions``."""
    return {"session_id": session_id, **_usage(entry, state)}


def session_state(
    session_id: str, entry: SessionEntry, state: _core.SessionState, context_text: str
) -> dict[str, Any]:
    """``GET /v1/sessions/{id}/state``."""
    return {
        "session_id": session_id,
        "type": state.data_type,
        **_usage(entry, state),
        "pos_min": state.pos_min,
        "pos_max": state.pos_max,
        "pos_next": state.pos_next,
        "data_region": _data_region(state),
        "data_count": state.data_count,
        "context_text": context_text,
    }


def stream_status(state: _core.SessionState) -> dict[str, Any]:
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


def slots(state: _core.SessionState) -> dict[str, Any]:
    """``GET /v1/sessions/{id}/slots``: the context's three regions."""
    bounds = (("prefix", 0, state.prefix_end), ("data", state.prefix_end, state.pos_next))
    regions = [*bounds, ("free", state.pos_next, state.context_size)]
    return {
        "slots": [{"name": name, "start": lo, "end": hi, "n_tokens": hi - lo} for name, lo, hi in regions],
        "prefix_end": state.prefix_end,
        "data_region": _data_region(state),
        "pos_next": state.pos_next,
        "total_tokens": state.pos_next,
    }


def appended(result: _core.AppendResult) -> dict[str, int]:
    """``POST /v1/sessions/{id}/append``."""
    end = result.pos_next
    return {"n_tokens_added": result.n_tokens_added, "total_tokens": end, "pos_max": end - 1}


def prefix_marked(mark: _core.PrefixMark) -> dict[str, Any]:
    """``POST /v1/sessions/{id}/mark_prefix``."""
    message = f"prefix marked: positions [0, {mark.prefix_end}) are frozen"
    if mark.n_records_frozen:
        message += f" ({mark.n_records_frozen} records included)"
    return {"prefix_end": mark.prefix_end, "message": message}


def _flash_head(info: _core.FlashInfo) -> dict[str, Any]:
    return {"id": info.id, "query": info.query, "max_tokens": info.max_tokens, "n_tokens": info.n_tokens}


def flash_registered(info: _core.FlashInfo, total: int) -> dict[str, Any]:
    """``POST /v1/sessions/{id}/flash``."""
    return {**_flash_head(info), "total_flash_queries": total, "status": "registered"}


def flash_query(info: _core.FlashInfo) -> dict[str, Any]:
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


def cached_answer(info: _core.FlashInfo, state: _core.SessionState) -> dict[str, Any]:
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


def generated(event: Mapping[str, Any]) -> dict[str, Any]:
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


def session_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
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
    return None


_PUSH_FIELDS = ("pushed", "dropped", "queue_size", "queue_capacity", "total_enqueued", "total_dropped")


def push_result(result: _core.PushResult) -> dict[str, int]:
    """``POST /v1/sessions/{id}/stream/push`` (the WebSocket ``push_ack`` is its first three).
    The wire names are the struct's own."""
    return {name: int(getattr(result, name)) for name in _PUSH_FIELDS}
