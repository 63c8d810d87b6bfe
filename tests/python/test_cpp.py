"""Build the C++ test binaries with CMake and run each one as a pytest test.

The top-level project is configured once per session into build/cpp-tests
(Ninja, Release, -DSTREAMINFER_BUILD_TESTS=ON); only the targets listed in
CPP_TEST_TARGETS are built, so llama.cpp is compiled only when one of them
links against it. Add a binary by adding its target name here.

The engine binaries (plain, ASan+UBSan, TSan) load the default model: they
get the path the session's model_path fixture resolves as their argument.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / "build" / "cpp-tests"

# Every name is a CMake target and an executable of the same name in BUILD_DIR
# (or a sub-folder of it); each one becomes its own test below.
CPP_TEST_TARGETS: tuple[str, ...] = (
    "test-spsc-ring",
    "test-spsc-ring-tsan",
    "test-engine",
    "test-engine-asan",
    "test-engine-tsan",
)

# Targets that load a model: they get the default GGUF's path as argv[1].
MODEL_TARGETS = frozenset({"test-engine", "test-engine-asan", "test-engine-tsan"})

CPP_TEST_DIR = REPO_ROOT / "tests" / "cpp"

BUILD_JOBS = 2  # small CI machines: llama.cpp objects are memory hungry
RUN_TIMEOUT_S = 600

# Building llama.cpp for the engine tests takes a while on 2 cores; the
# session fixture's time is charged to the first test.
pytestmark = pytest.mark.timeout(3600)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found on PATH: install the test dependencies "
            f"(pip install cmake ninja) or the system package",
            pytrace=False,
        )
    return path


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def _run_step(what: str, cmd: Sequence[str]) -> None:
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{_output(proc)}",
            pytrace=False,
        )


def _find_binary(target: str) -> Path:
    direct = BUILD_DIR / "tests" / "cpp" / target
    if direct.is_file():
        return direct
    found = [p for p in BUILD_DIR.rglob(target) if p.is_file() and os.access(p, os.X_OK)]
    if not found:
        pytest.fail(f"built target {target!r} but found no executable under {BUILD_DIR}", pytrace=False)
    return found[0]


@pytest.fixture(scope="module")
def cpp_binaries() -> dict[str, Path]:
    cmake = _tool("cmake")
    ninja = _tool("ninja")
    _run_step(
        "CMake configure",
        [
            cmake,
            "-S",
            str(REPO_ROOT),
            "-B",
            str(BUILD_DIR),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSTREAMINFER_BUILD_TESTS=ON",
        ],
    )
    _run_step(
        "CMake build",
        [cmake, "--build", str(BUILD_DIR), "--parallel", str(BUILD_JOBS), "--target", *CPP_TEST_TARGETS],
    )
    return {target: _find_binary(target) for target in CPP_TEST_TARGETS}


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
def test_cpp_binary(cpp_binaries: dict[str, Path], target: str, request: pytest.FixtureRequest) -> None:
    binary = cpp_binaries[target]
    args = [str(binary)]
    if target in MODEL_TARGETS:
        # Resolved only here, so the ring tests never fetch a model.
        args.append(str(request.getfixturevalue("model_path")))
    proc = subprocess.run(
        args,
        cwd=BUILD_DIR,
        capture_output=True,
        text=True,
        env=_sanitizer_env(target),
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{target} exited with {proc.returncode}\n{_output(proc)}"
