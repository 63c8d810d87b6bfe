"""A session as one file: the export format, and each saved session's checkpoint.

JSON Lines (docs/api.md, "Session files"). The first line is the header: the
format, the session's configuration as it was asked for, its counters, flash
queries, and how many entry lines follow. Then one line per entry, oldest
first: first those that ``mark_prefix`` froze into the prefix, then the
window's. An entry is ``{"record": {...}}`` (a record as pushed) or
``{"text": "..."}`` (appended text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streaminfer import _core

FORMAT = "streaminfer-session/1"


@dataclass(frozen=True)
class SessionSpec:
    """What the session was created with (sizes 0: the server's choice)."""

    type: str
    prompt: str = ""
    context_size: int = 0
    window_size: int = 0

    def create(
        self,
        engine: _core.Engine,
        session_id: str,
        flash: list[tuple[str, int | None]] | None = None,
        restore: _core.Checkpoint | None = None,
    ) -> _core.Session:
        """The core session (blocks while the prefix and a restored window decode: call it
        in a worker thread)."""
        return engine.create_session(
            session_id, self.type, self.prompt, self.context_size, self.window_size, flash, restore
        )


@dataclass(frozen=True)
class SessionFile:
    spec: SessionSpec
    header: dict[str, Any]
    frozen: list[dict[str, Any]]
    window: list[dict[str, Any]]

    @property
    def next_seq(self) -> int:
        return int(self.header["next_seq"])

    def checkpoint(self, kv_state: bytes = b"") -> _core.Checkpoint:
        """The checkpoint to restore (RecordError / ParamError for a bad entry)."""
        h = self.header
        flash = [(int(q["id"]), str(q["query"]), int(q["max_tokens"])) for q in h["flash"]]
        return _core.Checkpoint(
            self.spec.type,
            self.frozen,
            self.window,
            self.next_seq,
            int(h["data_version"]),
            {str(k): int(v) for k, v in h["counters"].items()},
            flash,
            int(h["next_flash_id"]),
            kv_state,
        )


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def write(
    session_id: str, spec: SessionSpec, cp: _core.Checkpoint, kv: dict[str, Any] | None = None
) -> bytes:
    """The file of a checkpoint; ``kv`` describes a KV state file saved beside it."""
    frozen, window = cp.frozen, cp.window
    header = {
        "format": FORMAT,
        "session_id": session_id,
        "config": {
            "type": spec.type,
            "prompt": spec.prompt,
            "context_size": spec.context_size,
            "window_size": spec.window_size,
        },
        "next_seq": cp.next_seq,
        "data_version": cp.data_version,
        "counters": cp.counters,
        "flash": [{"id": i, "query": q, "max_tokens": n} for i, q, n in cp.flash],
        "next_flash_id": cp.next_flash_id,
        "frozen_entries": len(frozen),
        "window_entries": len(window),
        "kv": kv,
    }
    return b"".join([_line(header), *map(_line, frozen), *map(_line, window)])


class SessionFileError(ValueError):
    """The bytes are not a session file this server reads."""


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SessionFileError(f"{where}: '{key}' is missing or of the wrong type")
    return value


def read(data: bytes) -> SessionFile:
    """Parse a session file; SessionFileError says what is wrong (records are checked later,
    by the core, as a push checks them)."""
    lines = data.splitlines()
    if not lines:
        raise SessionFileError("the file is empty")
    try:
        header = json.loads(lines[0])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionFileError(f"line 1: not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SessionFileError(f"line 1: not a session file (expected format {FORMAT!r})")
    config = _field(header, "config", dict, "line 1")
    spec = SessionSpec(
        type=_field(config, "type", str, "config"),
        prompt=_field(config, "prompt", str, "config"),
        context_size=_field(config, "context_size", int, "config"),
        window_size=_field(config, "window_size", int, "config"),
    )
    for key in ("next_seq", "data_version", "next_flash_id", "frozen_entries", "window_entries"):
        _field(header, key, int, "line 1")
    _field(header, "counters", dict, "line 1")
    for i, q in enumerate(_field(header, "flash", list, "line 1")):
        if not isinstance(q, dict):
            raise SessionFileError(f"line 1: flash[{i}] must be an object")
        _field(q, "id", int, f"flash[{i}]")
        _field(q, "query", str, f"flash[{i}]")
        _field(q, "max_tokens", int, f"flash[{i}]")
    n_frozen, n_window = header["frozen_entries"], header["window_entries"]
    if len(lines) - 1 != n_frozen + n_window:
        raise SessionFileError(
            f"the header announces {n_frozen + n_window} entries; {len(lines) - 1} lines follow it"
        )
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SessionFileError(f"line {number}: not JSON ({exc})") from None
        if not isinstance(entry, dict) or not ("record" in entry or isinstance(entry.get("text"), str)):
            raise SessionFileError(f"line {number}: an entry is {{'record': {{...}}}} or {{'text': '...'}}")
        entries.append(entry)
    return SessionFile(spec, header, entries[:n_frozen], entries[n_frozen:])
