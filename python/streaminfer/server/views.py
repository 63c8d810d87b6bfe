"""Core snapshots -> the exact response shapes of API.md.

Every figure goes through ``as_int`` / ``as_float`` / ``as_bool`` so that an
int is never sent as ``12.0`` and a float is always a JSON number with a
fractional part (clients validate types strictly).
"""

from __future__ import annotations

import math
from typing import Any

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


def as_optional_float(value: Any) -> float | None:
    return None if value is None else as_float(value)


def as_bool(value: Any) -> bool:
    return bool(value)


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


def data_region(state: dict[str, Any]) -> dict[str, int]:
    return {
        "start": as_int(state.get("data_start")),
        "end": as_int(state.get("data_end")),
        "window_size": as_int(state.get("window_size")),
    }


def session_summary(session_id: str, entry: SessionEntry, state: dict[str, Any]) -> dict[str, Any]:
    """An item of ``GET /v1/sessions``."""
    return {
        "session_id": session_id,
        "n_tokens": as_int(state.get("n_tokens")),
        "context_size": as_int(state.get("context_size")),
        "prefix_end": as_int(state.get("prefix_end")),
        "last_inject_us": as_int(state.get("last_inject_us")),
        "cache_usage": as_float(state.get("cache_usage")),
        "created_at": entry.created_at,
        "last_used_at": entry.last_used_at,
        "in_use": entry.in_use,
    }


def session_state(
    session_id: str, entry: SessionEntry, state: dict[str, Any], context_text: str
) -> dict[str, Any]:
    """``GET /v1/sessions/{id}/state``."""
    return {
        "session_id": session_id,
        "type": as_str(state.get("type")),
        "n_tokens": as_int(state.get("n_tokens")),
        "context_size": as_int(state.get("context_size")),
        "pos_min": as_int(state.get("pos_min")),
        "pos_max": as_int(state.get("pos_max")),
        "pos_next": as_int(state.get("pos_next")),
        "prefix_end": as_int(state.get("prefix_end")),
        "data_region": data_region(state),
        "data_count": as_int(state.get("data_count")),
        "last_inject_us": as_int(state.get("last_inject_us")),
        "cache_usage": as_float(state.get("cache_usage")),
        "created_at": entry.created_at,
        "last_used_at": entry.last_used_at,
        "in_use": entry.in_use,
        "context_text": context_text,
    }


def stream_status(state: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/sessions/{id}/stream/status``."""
    batches = as_int(state.get("batches_processed"))
    total_us = as_int(state.get("total_process_time_us"))
    return {
        "type": as_str(state.get("type")),
        "streaming": {
            "initialized": True,
            "running": as_bool(state.get("running")),
            "error": as_bool(state.get("error")),
            "queue_size": as_int(state.get("queue_size")),
            "queue_capacity": as_int(state.get("queue_capacity")),
            "window_size": as_int(state.get("window_size")),
            "process_interval_us": as_int(state.get("process_interval_us")),
        },
        "statistics": {
            "total_enqueued": as_int(state.get("total_enqueued")),
            "total_dropped": as_int(state.get("total_dropped")),
            "batches_processed": batches,
            "items_processed": as_int(state.get("items_processed")),
            "total_process_time_us": total_us,
            "avg_process_time_us": total_us / batches if batches > 0 else 0.0,
        },
        "data": {
            "initialized": True,
            "data_count": as_int(state.get("data_count")),
            "total_data_tokens": as_int(state.get("total_data_tokens")),
            "pos_next": as_int(state.get("pos_next")),
        },
    }


def slots(state: dict[str, Any], slot_list: list[dict[str, Any]]) -> dict[str, Any]:
    """``GET /v1/sessions/{id}/slots``."""
    return {
        "slots": [
            {
                "name": as_str(slot.get("name")),
                "start": as_int(slot.get("start")),
                "end": as_int(slot.get("end")),
                "n_tokens": as_int(slot.get("n_tokens")),
            }
            for slot in slot_list
        ],
        "prefix_end": as_int(state.get("prefix_end")),
        "data_region": data_region(state),
        "pos_next": as_int(state.get("pos_next")),
        "total_tokens": as_int(state.get("n_tokens")),
    }


def flash_query(item: dict[str, Any]) -> dict[str, Any]:
    """Q of ``GET /v1/sessions/{id}/flash``."""
    evaluated_at = as_int(item.get("evaluated_at"))
    return {
        "id": as_int(item.get("id")),
        "query": as_str(item.get("query")),
        "max_tokens": as_int(item.get("max_tokens")),
        "n_tokens": as_int(item.get("n_tokens")),
        "has_answer": as_bool(item.get("has_answer")),
        "value": as_str(item.get("value")),
        "data_version": as_int(item.get("data_version")),
        "confidence": as_float(item.get("confidence")),
        "evaluated_at": evaluated_at,
        "last_evaluated_ms": evaluated_at,
    }


def flash_ready_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "flash_ready",
        "id": as_int(event.get("id")),
        "query": as_str(event.get("query")),
        "value": as_str(event.get("value")),
        "confidence": as_float(event.get("confidence")),
        "data_version": as_int(event.get("data_version")),
        "evaluated_at": as_int(event.get("evaluated_at")),
    }


def data_updated_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "data_updated",
        "data_version": as_int(event.get("data_version")),
        "data_count": as_int(event.get("data_count")),
        "pos_next": as_int(event.get("pos_next")),
    }


def session_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The wire form of a session event (SSE data and WebSocket ``data``), None for others."""
    kind = event.get("type")
    if kind == "flash_ready":
        return flash_ready_event(event)
    if kind == "data_updated":
        return data_updated_event(event)
    return None


def push_result(result: dict[str, Any]) -> dict[str, int]:
    keys = ("pushed", "dropped", "queue_size", "queue_capacity", "total_enqueued", "total_dropped")
    return {key: as_int(result.get(key)) for key in keys}
