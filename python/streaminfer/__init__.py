"""streaminfer: continuous inference over streaming data.

Importing the package is cheap: the compiled core, the client and the server are
imported only by the code that uses them. The public names are ``__all__``:
``Engine`` (the in-process engine, ``streaminfer.engine``) loads the core on
first use; ``Client`` and ``AsyncClient`` are ``streaminfer.client``'s.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from streaminfer.results import (
    Answer,
    DataUpdated,
    Event,
    FlashAnswer,
    PushResult,
    SessionError,
    SessionStatus,
)

if TYPE_CHECKING:
    from streaminfer.client import AsyncClient, Client
    from streaminfer.engine import Engine, GenerationError, Session

try:
    __version__ = version("streaminfer")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_LAZY = {
    "AsyncClient": "streaminfer.client",
    "Client": "streaminfer.client",
    "Engine": "streaminfer.engine",
    "GenerationError": "streaminfer.engine",
    "Session": "streaminfer.engine",
}

__all__ = [
    "Answer",
    "AsyncClient",
    "Client",
    "DataUpdated",
    "Engine",
    "Event",
    "FlashAnswer",
    "GenerationError",
    "PushResult",
    "Session",
    "SessionError",
    "SessionStatus",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'streaminfer' has no attribute {name!r}")
