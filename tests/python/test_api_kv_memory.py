"""--max-kv-memory: a session whose KV cache does not fit beside the others is refused (507)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_server import CTX_SIZE, assert_error, create_session, serving

from streaminfer import _core


@pytest.fixture(scope="module")
def model(model_path: Path) -> _core.Model:
    return _core.Model(str(model_path), n_threads=1)


def test_a_budget_for_one_session_refuses_the_second(model_path: Path, model: _core.Model) -> None:
    need = model.kv_bytes(CTX_SIZE)
    budget = need * 3 // 2
    with serving(model_path, "--max-kv-memory", str(budget)) as server, server.client() as client:
        first = create_session(client, "ohlcv")["session_id"]
        error = assert_error(client.post("/v1/sessions/init", json={"type": "ohlcv"}), 507)
        assert error["code"] == "kv_memory_exhausted"
        for number in (need, need, budget):  # needed, in use, budget
            assert str(number) in error["message"]
        # A smaller context fits in what is left.
        small = create_session(client, "ohlcv", context_size=512)
        assert client.get(f"/v1/sessions/{small['session_id']}").json()["kv_bytes"] == model.kv_bytes(512)
        assert client.delete(f"/v1/sessions/{small['session_id']}").status_code == 200
        # DELETE gives the bytes back.
        assert client.delete(f"/v1/sessions/{first}").status_code == 200
        create_session(client, "ohlcv")


def test_sizes_with_units(model_path: Path, model: _core.Model) -> None:
    # 1 MiB holds no session of the default model; the unit is read as 2^20 bytes.
    with serving(model_path, "--max-kv-memory", "1MiB") as server, server.client() as client:
        error = assert_error(client.post("/v1/sessions/init", json={"type": "iot"}), 507)
        assert str(1 << 20) in error["message"] and str(model.kv_bytes(CTX_SIZE)) in error["message"]


KV_LOG = re.compile(r"llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells")


@pytest.mark.parametrize("n_ctx", [300, 1024, 4096])
def test_kv_bytes_matches_what_llama_cpp_allocates(model_path: Path, model: _core.Model, n_ctx: int) -> None:
    """llama.cpp logs the size of each KV cache it creates (at info level)."""
    script = (
        "import sys; from streaminfer import _core\n"
        f"e = _core.Engine(sys.argv[1], n_ctx={n_ctx}, n_threads=1)\n"
        "e.create_session('s', 'iot', 'x'); e.close()\n"
    )
    env = {"STREAMINFER_LLAMA_LOG": "info", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = [(float(mib), int(cells)) for mib, cells in KV_LOG.findall(done.stderr)]
    assert sizes, done.stderr[-2000:]
    mib, cells = sizes[-1]
    assert cells == -(-n_ctx // 256) * 256
    assert model.kv_bytes(n_ctx) == pytest.approx(mib * (1 << 20), rel=0.01)
