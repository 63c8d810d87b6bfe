"""The tests' own CMake build: the portable flavour, with the C++ tests and a Python module.

The C++ tests (test_cpp.py) and the checks of run-time CPU dispatch
(test_cpu_dispatch.py) share one build tree, configured and built once per
session by the ``portable_build`` fixture (conftest.py) into
build/portable-tests: ggml and llama as shared libraries with every x86-64
variant of ggml's CPU backend (-DSTREAMINFER_PORTABLE=ON), the C++ test
binaries, and ``_core``. So the test suite builds llama.cpp twice, once per
flavour: the installed wheel is native, this tree portable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / "build" / "portable-tests"
BUILD_JOBS = 2  # small CI machines: llama.cpp objects are memory hungry

# Every name is a CMake target and a ctest test of the same name
# (tests/cpp/CMakeLists.txt); test_cpp.py runs each as a pytest test.
CPP_TEST_TARGETS: tuple[str, ...] = (
    "test-spsc-ring",
    "test-spsc-ring-tsan",
    "test-engine",
    "test-engine-asan",
    "test-engine-tsan",
)


@dataclass(frozen=True)
class PortableBuild:
    root: Path  # the build tree, where ctest finds the C++ tests
    python_module: Path  # the portable _core
    library_dir: Path  # _core, libstreaminfer-{llama,ggml,ggml-base}.so and the CPU variants libggml-cpu-*.so

    def cpu_variants(self) -> dict[str, Path]:
        """Variant name (e.g. "haswell") -> module."""
        prefix = "libggml-cpu-"
        return {p.name[len(prefix) : -len(".so")]: p for p in sorted(self.library_dir.glob(f"{prefix}*.so"))}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found on PATH: install the test dependencies "
            f"(pip install cmake ninja) or the system package",
            pytrace=False,
        )
    return path


def _run_step(what: str, cmd: Sequence[str]) -> None:
    print(f"[build] {what}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-20000:]}\n--- stderr ---\n{proc.stderr[-20000:]}",
            pytrace=False,
        )


def _find(pattern: str) -> Path:
    found = sorted(p for p in BUILD_DIR.rglob(pattern) if p.is_file() and "CMakeFiles" not in p.parts)
    if not found:
        pytest.fail(f"the build left no {pattern} under {BUILD_DIR}", pytrace=False)
    return found[0]


def build() -> PortableBuild:
    import pybind11

    cmake = require_tool("cmake")
    ninja = require_tool("ninja")
    _run_step(
        "CMake configure",
        [
            cmake,
            *("-S", str(REPO_ROOT), "-B", str(BUILD_DIR), "-G", "Ninja"),
            f"-DCMAKE_MAKE_PROGRAM={ninja}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSTREAMINFER_PORTABLE=ON",
            "-DSTREAMINFER_AMX=OFF",
            "-DGGML_CUDA=OFF",
            "-DSTREAMINFER_BUILD_TESTS=ON",
            "-DSTREAMINFER_BUILD_PYTHON_MODULE=ON",
            # No model path baked into the ctest tests: the engine tests read
            # STREAMINFER_TEST_MODEL at run time (test_cpp.py sets it).
            "-DSTREAMINFER_TEST_MODEL=",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        ],
    )
    _run_step(
        "CMake build",
        [
            cmake,
            "--build",
            str(BUILD_DIR),
            "--parallel",
            str(BUILD_JOBS),
            "--target",
            "_core",
            *CPP_TEST_TARGETS,
        ],
    )
    library_dir = _find("libggml-cpu-x64.so").parent
    modules = sorted(library_dir.glob("_core*.so"))
    if len(modules) != 1:
        pytest.fail(f"expected one _core module in {library_dir}, found {modules}", pytrace=False)
    return PortableBuild(root=BUILD_DIR, python_module=modules[0], library_dir=library_dir)


# --- what instructions a binary holds ------------------------------------------

# Instruction encodings, from the oldest to the newest: legacy (up to SSE4.2),
# VEX (AVX, AVX2, FMA, F16C, BMI), EVEX (AVX-512), and AMX's tile instructions.
ENCODINGS = ("legacy", "vex", "evex", "amx")
_OBJDUMP_LINE = re.compile(r"^\s*[0-9a-f]+:\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*\t(\S+)")
_SEGMENT_OR_ADDRESS_PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x67})
_AMX_MNEMONIC_PREFIXES = ("ldtilecfg", "sttilecfg", "tile", "tdp", "tcmm", "tcvt", "tmmul", "ttdp")
# AMX's opcodes in VEX map 0F38 (ldtilecfg/sttilecfg/tilerelease/tilezero,
# tileload/store, tdpbf16ps, tdpb*d, tdpfp16ps): an objdump too old to know
# them prints "(bad)", so the bytes decide too.
_AMX_0F38_OPCODES = frozenset({0x49, 0x4B, 0x5C, 0x5E, 0x6C})


def encoding_of(raw: list[int], mnemonic: str) -> str:
    """The encoding class of one instruction from its first bytes (as objdump shows them)."""
    i = 0
    while i < len(raw) - 1 and raw[i] in _SEGMENT_OR_ADDRESS_PREFIXES:
        i += 1
    vex3 = raw[i] == 0xC4 and len(raw) > i + 3
    if mnemonic.startswith(_AMX_MNEMONIC_PREFIXES) or (
        vex3 and raw[i + 1] & 0x1F == 0x02 and raw[i + 3] in _AMX_0F38_OPCODES
    ):
        return "amx"
    # In 64-bit mode C4/C5 always start a VEX prefix and 62 an EVEX prefix.
    if raw[i] in (0xC4, 0xC5):
        return "vex"
    if raw[i] == 0x62:
        return "evex"
    return "legacy"


def instruction_encodings(binary: Path) -> Counter[str]:
    """How many instructions of each encoding the code of ``binary`` holds."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed: it reads the instructions of the build")
    counts: Counter[str] = Counter()
    with subprocess.Popen([objdump, "-d", str(binary)], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = _OBJDUMP_LINE.match(line)
            if match:
                raw = [int(b, 16) for b in match.group(1).split()]
                counts[encoding_of(raw, match.group(2))] += 1
    assert proc.returncode == 0, f"objdump -d {binary} failed"
    return counts
