"""Run each C++ test binary as a pytest test.

The binaries come from the tests' portable build tree (build_helpers.py,
the ``portable_build`` fixture), so they run against ggml's CPU variant that
this machine selects at run time. Add a binary by adding its target name to
build_helpers.CPP_TEST_TARGETS.

The engine binaries (plain, ASan+UBSan, TSan) load the default model: they
get the path the session's model_path fixture resolves as their argument.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from build_helpers import CPP_TEST_TARGETS, PortableBuild

# Targets that load a model: they get the default GGUF's path as argv[1].
MODEL_TARGETS = frozenset({"test-engine", "test-engine-asan", "test-engine-tsan"})

CPP_TEST_DIR = Path(__file__).resolve().parents[1] / "cpp"

RUN_TIMEOUT_S = 600

# Building llama.cpp in every CPU variant takes a while on 2 cores; the
# session fixture's time is charged to the first test.
pytestmark = pytest.mark.timeout(3600)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def _sanitizer_env(target: str) -> dict[str, str]:
    env = dict(os.environ)
    # Stop at the first report so the failure shows the first race or error;
    # values the caller already set win. The engine binaries use the options
    # tests/cpp/CMakeLists.txt gives them under ctest.
    if target in MODEL_TARGETS:
        env.setdefault("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1")
        env.setdefault(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1",
        )
        if "suppressions=" not in env["TSAN_OPTIONS"]:
            # ggml's thread pool, uninstrumented: see the file.
            env["TSAN_OPTIONS"] += f":suppressions={CPP_TEST_DIR / 'tsan.supp'}"
    env.setdefault("TSAN_OPTIONS", "halt_on_error=1")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


@pytest.mark.parametrize("target", CPP_TEST_TARGETS)
def test_cpp_binary(portable_build: PortableBuild, target: str, request: pytest.FixtureRequest) -> None:
    binary = portable_build.binaries[target]
    args = [str(binary)]
    if target in MODEL_TARGETS:
        # Resolved only here, so the ring tests never fetch a model.
        args.append(str(request.getfixturevalue("model_path")))
    proc = subprocess.run(
        args,
        cwd=portable_build.root,
        capture_output=True,
        text=True,
        env=_sanitizer_env(target),
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{target} exited with {proc.returncode}\n{_output(proc)}"
