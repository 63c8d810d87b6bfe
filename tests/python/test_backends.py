"""The installed build as _core.system_info() describes it, and the options
that choose kernels and devices (flash attention, KV offload, weight
repacking, GPU layers)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import ohlcv_records, wait_idle

from streaminfer import _core
from streaminfer.doctor import missing_instructions, read_cpuinfo

_ids = itertools.count()


def test_system_info_describes_the_installed_build() -> None:
    info = _core.system_info()
    assert info.build in ("native", "portable")
    assert info.cpu_features, "the CPU backend reported no feature"
    if info.build == "native":
        assert info.cpu_variant == "native" and info.cpu_backend_path == ""
    else:
        assert Path(info.cpu_backend_path).name == f"libggml-cpu-{info.cpu_variant}.so"
    assert not info.cuda_loaded or info.cuda_built
    assert "CPU :" in info.llama_info
    cpu = read_cpuinfo()
    if cpu is not None:
        assert missing_instructions(list(info.cpu_features), cpu.flags) == []
    assert _core.system_info().cpu_features == info.cpu_features  # loaded once, stable


def _answer(model_path: Path, **options: Any) -> dict[str, Any]:
    engine = _core.Engine(str(model_path), n_ctx=1024, n_threads=2, **options)
    try:
        session = engine.create_session(f"sess_{next(_ids)}", "ohlcv", context_size=1024)
        session.push(ohlcv_records(16, seed=5))
        wait_idle(session)
        return session.probe("Is the trend bullish or bearish?", 8)
    finally:
        engine.close()


def _largest_difference(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(abs(x - y) for x, y in zip(a.logits, b.logits, strict=True))


def _first_token(answer: dict[str, Any]) -> int:
    logits: list[float] = answer.logits
    return logits.index(max(logits))


def test_kernel_options_change_the_kernels_not_the_answer(model_path: Path) -> None:
    """Flash attention on or off: other kernels (f16 on the CPU), so the same first
    token and close logits; later tokens may part on near-ties. Q4_1 weights in
    the file's layout, the KV cache kept off the GPU: on the CPU the same
    computation (ggml repacks no Q4_1; see the Q4_0 test below), so the same answer."""
    base = _answer(model_path, flash_attn="off")
    flash = _answer(model_path, flash_attn="on")
    difference = _largest_difference(base, flash)
    print(f"\nflash attention on vs off: largest first-step logit difference {difference:.4f}")
    assert _first_token(flash) == _first_token(base)
    assert difference < 2.0  # measured: 0.84 (SmolLM2 Q4_1, AVX-512)
    for options in ({"repack": False}, {"offload_kv": False}):
        other = _answer(model_path, flash_attn="off", **options)
        assert other.text == base.text, options
        assert _largest_difference(base, other) < 0.5, options


def test_an_unknown_flash_attention_mode_is_refused(model_path: Path) -> None:
    with pytest.raises(ValueError, match="flash_attn must be one of auto, on, off"):
        _core.Engine(str(model_path), flash_attn="fast")


@pytest.mark.skipif(
    bool(_core.system_info().gpus), reason="runs where no GPU is visible (this machine has one)"
)
def test_gpu_layers_without_a_gpu_are_refused(model_path: Path) -> None:
    with pytest.raises(ValueError, match="no GPU is available"):
        _core.Model(str(model_path), n_gpu_layers=1)
    with pytest.raises(ValueError, match="no GPU is available"):
        _core.Engine(str(model_path), n_gpu_layers=99)


# In a child process: llama.cpp's log (STREAMINFER_LLAMA_LOG=info) says where the weights went.
REPACK_PROBE = """
import json, sys, time
from streaminfer import _core
engine = _core.Engine(sys.argv[1], n_ctx=512, n_threads=2, repack=sys.argv[2] == "1")
session = engine.create_session("repack", "ohlcv", "", 512)
session.push([{"o": 185.5, "h": 186.2, "l": 184.9, "c": 185.7, "v": 12345}])
while session.state().counters.items_processed < 1:
    time.sleep(0.01)
print(json.dumps(session.probe("What was the last close?", 4).logits))
engine.close()
"""


def test_repack_moves_q4_0_weights_into_ggml_layouts_and_keeps_the_answer(tiny_model_path: Path) -> None:
    logits, logs = {}, {}
    for repack in (True, False):
        proc = subprocess.run(
            [sys.executable, "-c", REPACK_PROBE, str(tiny_model_path), str(int(repack))],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ, STREAMINFER_LLAMA_LOG="info"),
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        logits[repack], logs[repack] = json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr
    assert "CPU_REPACK model buffer" not in logs[False]
    if "AVX2" in _core.system_info().cpu_features:  # ggml repacks Q4_0 for AVX2 and newer
        assert "CPU_REPACK model buffer" in logs[True]
    largest = max(abs(a - b) for a, b in zip(logits[True], logits[False], strict=True))
    print(f"\nQ4_0 repacked vs in the file's layout: largest first-step logit difference {largest:.2e}")
    assert largest < 0.05  # the logits' spread (std) is about 1; measured 0.012 (AVX-512)
