"""``streaminfer doctor``: what it reports about this installation, and the
problems it must turn into a line and exit status 1."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from streaminfer import __version__, _core, cli, doctor


def run_doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streaminfer", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_doctor_reports_this_installation_and_decodes(model_path: Path) -> None:
    proc = run_doctor()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    info = _core.system_info()
    assert out.startswith(f"streaminfer {__version__}\n")
    assert re.search(rf"^build\s+{info.build}, {'CUDA' if info.cuda_built else 'CPU only'}$", out, re.M)
    assert re.search(
        rf"^ggml\s+CPU backend {info.cpu_variant}\b.*: {' '.join(info.cpu_features)}$", out, re.M
    )
    assert re.search(r"^amx\s+(on|off|built)", out, re.M)
    assert re.search(r"^gpu\s+", out, re.M)
    assert f"default (smollm2-135m): {model_path}" in out
    assert re.search(rf"^smoke test\s+{re.escape(model_path.name)}: loaded in .* \(\d+ tokens in", out, re.M)
    assert "problem:" not in out
    assert out.rstrip().endswith("ok: no problem found")


def test_a_model_that_cannot_decode_is_a_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(64))
    proc = run_doctor("--model", str(broken))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(
        r"^problem:\s+smoke test on broken\.gguf: the decode exited with status 1: \S", proc.stdout, re.M
    )
    assert proc.stdout.rstrip().endswith("1 problem(s) found")


def test_a_core_that_dies_of_sigill_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A core built for another CPU dies at its first unknown instruction. The
    stand-in here is a child that really dies of SIGILL: the doctor must live
    on and say what happened and what to do."""
    dies = tmp_path / "python"
    dies.write_text("#!/bin/sh\nkill -ILL $$\n")
    dies.chmod(dies.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(doctor.sys, "executable", str(dies))
    assert cli.main(["doctor", "--no-smoke"]) == 1
    out = capsys.readouterr().out
    assert "problem:    the compiled core streaminfer._core died with SIGILL (illegal instruction)" in out
    assert "-DSTREAMINFER_PORTABLE=ON" in out


def test_a_native_build_on_an_older_cpu_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Old Xeon\nflags\t\t: fpu sse sse2 pni ssse3 sse4_2 avx f16c\n\n"
        "processor\t: 1\nmodel name\t: Old Xeon\nflags\t\t: fpu sse sse2 pni ssse3 sse4_2 avx f16c\n"
    )
    cpu = doctor.read_cpuinfo(cpuinfo)
    assert cpu is not None and cpu.model == "Old Xeon" and "avx" in cpu.flags
    probe = {
        "build": "native",
        "cuda_built": False,
        "cuda_loaded": False,
        "cpu_variant": "native",
        "cpu_backend_path": "",
        "cpu_features": ["SSE3", "AVX", "AVX2", "FMA", "F16C", "REPACK"],
        "amx": False,
        "gpus": [],
    }
    report = doctor.Report()
    doctor.check_build(report, probe, cpu)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "ggml's CPU backend was compiled for AVX2, FMA, which this CPU lacks"
    )


def test_a_cuda_build_without_a_gpu_is_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    report = doctor.Report()
    doctor.check_gpus(report, {"cuda_built": True, "cuda_loaded": True, "gpus": []})
    assert report.problems == [
        "a CUDA build, but no GPU is visible (no driver, or CUDA_VISIBLE_DEVICES hides them)"
    ]
    report = doctor.Report()
    gpu = {
        "name": "CUDA0",
        "description": "NVIDIA H100",
        "memory_free": 70 * 2**30,
        "memory_total": 80 * 2**30,
    }
    doctor.check_gpus(report, {"cuda_built": True, "cuda_loaded": True, "gpus": [gpu]})
    assert report.problems == []
    assert "CUDA0: NVIDIA H100 (70.0 GiB free of 80.0 GiB)" in capsys.readouterr().out
