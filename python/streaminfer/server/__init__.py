"""The HTTP, SSE and WebSocket layer over ``streaminfer._core`` (docs/api.md).

``create_app`` builds the Starlette application; ``streaminfer serve`` runs it
under uvicorn. Importing this package does not import the compiled core.
"""

from __future__ import annotations

from streaminfer.server.config import ServerConfig

__all__ = ["ServerConfig"]
