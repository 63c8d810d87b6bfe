"""The streaminfer client SDK: ``Client`` and ``AsyncClient`` over httpx.

    from streaminfer.client import Client

    with Client() as client:  # STREAMINFER_BASE_URL, STREAMINFER_API_KEY
        session = client.create_session("ohlcv", flash=["Is the trend up or down?"])
        session.push([{"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 100.0}])
        for event in session.events():  # reconnects when the stream drops
            print(event)

Every REST route is a typed method (``routes.py`` lists them); errors are
``errors.APIError`` subclasses; ``RemoteSession.stream()`` is one WebSocket
for pushing and events that comes back by itself.
"""

from __future__ import annotations

from streaminfer.client.aio import AsyncClient, AsyncRemoteSession
from streaminfer.client.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GenerationError,
    NotFoundError,
    PermissionDeniedError,
    PushRefusedError,
    RateLimitError,
    ServerError,
    StreamBufferFullError,
)
from streaminfer.client.outbox import StreamStats
from streaminfer.client.streams import AsyncStream, StreamOptions, SyncStream
from streaminfer.client.sync import Client, RemoteSession
from streaminfer.client.transport import RetryPolicy
from streaminfer.client.types import Connected
from streaminfer.results import DataUpdated, FlashAnswer, PushResult, SessionError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncRemoteSession",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "Connected",
    "DataUpdated",
    "FlashAnswer",
    "GenerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "PushRefusedError",
    "PushResult",
    "RateLimitError",
    "RemoteSession",
    "RetryPolicy",
    "ServerError",
    "SessionError",
    "StreamBufferFullError",
    "StreamOptions",
    "StreamStats",
    "SyncStream",
]
