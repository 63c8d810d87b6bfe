"""The records a WebSocket stream holds for the server, and what became of each: no I/O
here, only the accounting (``streams.py`` moves the frames).

A push is one frame. A frame is *pending* until it is sent, then *in flight* until
the server acknowledges it (acks come in order, one per frame). When the
connection drops, the frames in flight are in doubt: the server may have taken
them or not. On each (re)connect the stream reads the session's count of
records received (``total_enqueued + total_dropped``, ``GET …/stream/status``)
before it sends anything, and ``reconcile`` works out how many of the frames in
doubt the server has: those count as delivered, the rest are sent again. This
holds while the stream is the session's only writer; records another client
pushes meanwhile are taken for the stream's own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Frame = list[Mapping[str, Any]]


@dataclass
class StreamStats:
    """A stream's account of its records, from its start."""

    pushed: int = 0  # acknowledged as queued by the server
    dropped_by_server: int = 0  # acknowledged as dropped: the session's queue was full
    dropped_by_client: int = 0  # refused by a full buffer (on_overflow="drop"): never sent
    delivered_in_doubt: int = 0  # sent before a drop, unacknowledged, found received at the reconnect
    resent: int = 0  # sent before a drop, unacknowledged, not received: sent again
    lost: int = 0  # acknowledged before a server restart and no longer counted by the server after it
    connects: int = 0
    buffered: int = 0  # now: pending and in flight


class BufferFull(Exception):
    """The frame does not fit in the buffer."""


class Outbox:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.stats = StreamStats()
        self._pending: deque[Frame] = deque()
        self._in_flight: deque[Frame] = deque()
        self._received: int | None = None  # the server's count at the last reconcile
        self._acked = 0  # records acknowledged since then

    def add(self, frame: Frame, drop: bool) -> bool:
        """Hold a frame to send. False when it was dropped (``drop``); BufferFull otherwise."""
        if self.stats.buffered + len(frame) > self.capacity:
            if not drop:
                raise BufferFull
            self.stats.dropped_by_client += len(frame)
            return False
        self._pending.append(frame)
        self.stats.buffered += len(frame)
        return True

    def has_pending(self) -> bool:
        return bool(self._pending)

    def idle(self) -> bool:
        """Nothing pending or in flight."""
        return not self._pending and not self._in_flight

    def take(self) -> Frame:
        """The next frame to send; it is in flight from now."""
        frame = self._pending.popleft()
        self._in_flight.append(frame)
        return frame

    def ack(self, pushed: int, dropped: int) -> None:
        frame = self._in_flight.popleft()
        self.stats.pushed += pushed
        self.stats.dropped_by_server += dropped
        self.stats.buffered -= len(frame)
        self._acked += len(frame)

    def refuse(self) -> Frame:
        """The frame in flight the server refused (a bad record): it is not sent again."""
        frame = self._in_flight.popleft()
        self.stats.buffered -= len(frame)
        return frame

    def reconcile(self, received: int) -> None:
        """Connected, before sending: ``received`` is the server's count of the session's records."""
        self.stats.connects += 1
        if self._received is None:  # the first connection: nothing was sent yet
            self._received = received
            return
        taken = received - self._received - self._acked
        if taken < 0:
            self.stats.lost += -taken
            taken = 0
        self._received, self._acked = received, 0
        resend: deque[Frame] = deque()
        while self._in_flight:
            frame = self._in_flight.popleft()
            got = min(taken, len(frame))
            taken -= got
            self.stats.delivered_in_doubt += got
            self.stats.buffered -= got
            if got < len(frame):
                resend.append(frame[got:])
                self.stats.resent += len(frame) - got
        resend.extend(self._pending)
        self._pending = resend
