"""Waiting for a condition the model or a server reaches in its own time: the tests' one polling loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

# The longest a test waits for the model: an event, an evaluation, a frame.
WAIT_S = 90.0

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = WAIT_S,
    what: str = "the condition",
    interval: float = 0.1,
) -> T:
    """Calls ``predicate`` every ``interval`` seconds until it returns something truthy, and
    returns that; raises AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
