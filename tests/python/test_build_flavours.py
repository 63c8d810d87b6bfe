"""One build directory switched between the build flavours (cmake/llama.cmake):
every configure succeeds and sets ggml up as its flavour says. pip reuses its
build directory (build/{wheel_tag}) whatever the flavour asked for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from build_helpers import REPO_ROOT


def configure(build_dir: Path, *defines: str) -> dict[str, str]:
    """Configure only (no compile); the cache's entries as name -> value."""
    cmake, ninja = shutil.which("cmake"), shutil.which("ninja")
    if cmake is None or ninja is None:
        pytest.fail("cmake and ninja are needed (pip install cmake ninja)", pytrace=False)
    command = [
        cmake,
        "-S",
        str(REPO_ROOT),
        "-B",
        str(build_dir),
        "-G",
        "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={ninja}",
    ]
    proc = subprocess.run([*command, *defines], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (
        f"configure {' '.join(defines)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    cache = {}
    for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith(("#", "//")):
            cache[name.split(":")[0]] = value
    return cache


def test_a_build_directory_switches_between_native_and_portable(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    portable = configure(build_dir, "-DSTREAMINFER_PORTABLE=ON")
    assert (portable["BUILD_SHARED_LIBS"], portable["GGML_BACKEND_DL"], portable["GGML_NATIVE"]) == (
        "ON",
        "ON",
        "OFF",
    )
    assert "ggml-cpu-x64" in portable["GGML_AVAILABLE_BACKENDS"].split(";")

    native = configure(build_dir, "-DSTREAMINFER_PORTABLE=OFF")
    assert (native["BUILD_SHARED_LIBS"], native["GGML_BACKEND_DL"], native["GGML_NATIVE"]) == (
        "OFF",
        "OFF",
        "ON",
    )
    assert native["GGML_AVAILABLE_BACKENDS"].split(";") == ["ggml-cpu"]

    again = configure(build_dir, "-DSTREAMINFER_PORTABLE=ON", "-DSTREAMINFER_AMX=ON")
    assert again["GGML_BACKEND_DL"] == "ON" and again["GGML_NATIVE"] == "OFF"


def test_native_stays_native_under_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ggml makes a fixed AVX2 build its default where SOURCE_DATE_EPOCH is set
    (reproducible builds): that build would fault on older CPUs."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert configure(tmp_path / "build", "-DSTREAMINFER_PORTABLE=OFF")["GGML_NATIVE"] == "ON"
