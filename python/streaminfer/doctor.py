"""``streaminfer doctor``: what this installation is, what it runs on, and whether it works.

It prints the version, the build (native or portable, CPU-only or CUDA), the
CPU's instruction sets beside those of ggml's CPU backend in use, AMX, the GPUs
and the cached models, then decodes a little with a model. Any problem becomes
one line starting ``problem:`` and the exit status 1.

Whatever loads the compiled core runs in a child process (``python -m
streaminfer.doctor probe|smoke``): a core built for another CPU dies with
SIGILL at its first unknown instruction, and that must become a line that
says so, not a crash of the doctor.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streaminfer import __version__

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

PROBE_TIMEOUT_S = 120.0  # loading the backends; a CUDA runtime that hangs must not hang the doctor
SMOKE_TIMEOUT_S = 600.0  # loading a model from a slow disk, and decoding

# ggml's names for instruction sets (SystemInfo.cpu_features) -> the flags
# Linux lists in /proc/cpuinfo for them. Other features (REPACK, LLAMAFILE) are
# not instruction sets.
GGML_TO_CPUINFO: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_int8",),
}

# What the smoke test pushes and asks.
SMOKE_RECORDS = [
    {
        "o": 185.5 + i,
        "h": 186.2 + i,
        "l": 184.9 + i,
        "c": 185.7 + i,
        "v": 12345 + i,
        "timestamp": 1700000040 + 60 * i,
    }
    for i in range(4)
]
SMOKE_QUESTION = "What was the last close?"


@dataclass
class Report:
    """The lines printed, and the problems among them."""

    problems: list[str] = field(default_factory=list)

    def line(self, label: str, text: str) -> None:
        print(f"{label:<11} {text}", flush=True)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"problem:    {text}", flush=True)


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuInfo | None:
    """The first processor's model name and flags; None where there is no such file."""
    try:
        text = path.read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return CpuInfo(
        fields.get("model name") or platform.processor() or "unknown",
        frozenset(fields.get("flags", "").split()),
    )


def missing_instructions(cpu_features: list[str], cpu_flags: frozenset[str]) -> list[str]:
    """The instruction sets the CPU backend was compiled for that this CPU lacks."""
    return [
        feature
        for feature in cpu_features
        if any(flag not in cpu_flags for flag in GGML_TO_CPUINFO.get(feature, ()))
    ]


def describe_exit(returncode: int) -> str:
    """How a child process ended, in words."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if -returncode == signal.SIGILL:
        return (
            f"died with {name} (illegal instruction): this build uses instructions this CPU "
            "lacks; reinstall on this machine (pip install --force-reinstall --no-cache-dir .) "
            "or build the portable wheel (CMAKE_ARGS=-DSTREAMINFER_PORTABLE=ON)"
        )
    return f"died with {name}"


def run_child(*args: str, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run ``python -m streaminfer.doctor ARGS``: (its JSON answer, or None and why not)."""
    command = [sys.executable, "-m", "streaminfer.doctor", *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish in {timeout:.0f} s"
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
        return None, describe_exit(proc.returncode) + (f": {detail[0]}" if detail else "")
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"answered something that is not JSON: {proc.stdout[-200:]!r}"
    return answer, ""


def check_build(report: Report, info: dict[str, Any], cpu: CpuInfo | None) -> None:
    gpu = "CUDA" if info["cuda_built"] else "CPU only"
    report.line("build", f"{info['build']}, {gpu}")
    if cpu is not None:
        isa = [flag for flags in GGML_TO_CPUINFO.values() for flag in flags if flag in cpu.flags]
        amx = "amx" if "amx_int8" in cpu.flags else "no amx"
        report.line("cpu", f"{cpu.model} ({platform.machine()}): {' '.join(isa) or 'no SIMD flags'}; {amx}")
    features = " ".join(info["cpu_features"]) or "(none)"
    where = f" from {info['cpu_backend_path']}" if info["cpu_backend_path"] else ""
    report.line("ggml", f"CPU backend {info['cpu_variant']}{where}: {features}")
    if cpu is not None:
        missing = missing_instructions(info["cpu_features"], cpu.flags)
        if missing:
            report.problem(
                f"ggml's CPU backend was compiled for {', '.join(missing)}, which this CPU lacks; "
                "reinstall on this machine or use the portable build (CMAKE_ARGS=-DSTREAMINFER_PORTABLE=ON)"
            )
    check_amx(report, info, cpu)
    check_gpus(report, info)


def check_amx(report: Report, info: dict[str, Any], cpu: CpuInfo | None) -> None:
    built = "AMX_INT8" in info["cpu_features"]
    cpu_has = cpu is not None and "amx_int8" in cpu.flags
    if info["amx"]:
        report.line("amx", "on: weights use AMX tiles")
    elif built and cpu_has:
        report.problem("AMX kernels are built and the CPU has AMX, but the kernel refused tile permission")
    elif built:
        report.line("amx", "built, but this CPU has no AMX: not used")
    else:
        hint = ", which this CPU has: CMAKE_ARGS=-DSTREAMINFER_AMX=ON to build them" if cpu_has else ""
        report.line("amx", f"off (the build has no AMX kernels{hint})")


def check_gpus(report: Report, info: dict[str, Any]) -> None:
    gpus = info["gpus"]
    for gpu in gpus:
        free, total = gpu["memory_free"] / 2**30, gpu["memory_total"] / 2**30
        report.line("gpu", f"{gpu['name']}: {gpu['description']} ({free:.1f} GiB free of {total:.1f} GiB)")
    if not info["cuda_built"]:
        if not gpus:
            report.line("gpu", "none (a CPU-only build)")
        return
    if not info["cuda_loaded"]:
        report.problem(
            "a CUDA build, but its CUDA backend did not load (are the CUDA runtime libraries installed?)"
        )
    elif not gpus:
        report.problem("a CUDA build, but no GPU is visible (no driver, or CUDA_VISIBLE_DEVICES hides them)")


def check_models(report: Report) -> None:
    from streaminfer.models import list_models

    for model in list_models():
        name = model.name + "".join(f" ({alias})" for alias in model.aliases)
        report.line("model", f"{name}: {model.cached_path or 'not cached'}")


def check_smoke(report: Report, model: str, gpu_layers: int) -> None:
    from streaminfer.models import ModelDownloadError, ModelNotFoundError, resolve_model

    try:
        path = resolve_model(model, progress=lambda m: print(f"            {m}", file=sys.stderr, flush=True))
    except (ModelNotFoundError, ModelDownloadError) as exc:
        report.problem(f"smoke test: no model: {exc}")
        return
    answer, why = run_child("smoke", str(path), str(gpu_layers), timeout=SMOKE_TIMEOUT_S)
    if answer is None:
        report.problem(f"smoke test on {path.name}: the decode {why}")
        return
    if answer["n_tokens"] < 1:
        report.problem(f"smoke test on {path.name}: the model generated no token")
        return
    where = ", every layer on the GPU" if gpu_layers else ""
    report.line(
        "smoke test",
        f"{path.name}{where}: loaded in {answer['load_s']:.2f} s, {len(SMOKE_RECORDS)} records decoded in "
        f"{answer['ingest_s']:.2f} s, {SMOKE_QUESTION!r} -> {answer['text']!r} "
        f"({answer['n_tokens']} tokens in {answer['answer_s']:.2f} s)",
    )


def run(args: argparse.Namespace) -> int:
    report = Report()
    report.line("streaminfer", __version__)
    report.line("python", f"{platform.python_version()} ({sys.executable})")
    info, why = run_child("probe", timeout=PROBE_TIMEOUT_S)
    if info is None:
        report.problem(f"the compiled core streaminfer._core {why}")
    else:
        check_build(report, info, read_cpuinfo())
    check_models(report)
    if info is not None and not args.no_smoke:
        check_smoke(report, args.model, gpu_layers=-1 if info["gpus"] else 0)
    if report.problems:
        print(f"{len(report.problems)} problem(s) found", flush=True)
        return 1
    print("ok: no problem found", flush=True)
    return 0


def add_doctor_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the installation: build, CPU, AMX, GPUs, models, and a short decode",
        description="Print what this installation is and runs on, and decode a little; "
        "exit 1 on any problem.",
    )
    parser.add_argument(
        "--model",
        default="default",
        help="model for the smoke test, a known name or a path (default: %(default)s)",
    )
    parser.add_argument("--no-smoke", action="store_true", help="skip the smoke test (no model is loaded)")
    parser.set_defaults(handler=run)


# --- the child process -------------------------------------------------------


def probe() -> dict[str, Any]:
    from streaminfer import _core

    info = _core.system_info()
    return {
        "build": info.build,
        "cuda_built": info.cuda_built,
        "cuda_loaded": info.cuda_loaded,
        "cpu_variant": info.cpu_variant,
        "cpu_backend_path": info.cpu_backend_path,
        "cpu_features": list(info.cpu_features),
        "amx": info.amx,
        "gpus": [
            {
                "name": g.name,
                "description": g.description,
                "memory_free": g.memory_free,
                "memory_total": g.memory_total,
            }
            for g in info.gpus
        ],
    }


def smoke(model_path: str, gpu_layers: int) -> dict[str, Any]:
    from streaminfer import _core

    started = time.perf_counter()
    engine = _core.Engine(model_path, n_ctx=512, worker_nice=0, n_gpu_layers=gpu_layers)
    try:
        session = engine.create_session("doctor", "ohlcv", "", 512)
        loaded = time.perf_counter()
        session.push(SMOKE_RECORDS)
        while (state := session.state()).counters.items_processed < len(SMOKE_RECORDS):
            if time.perf_counter() - loaded > SMOKE_TIMEOUT_S / 2:
                raise TimeoutError(f"{state.counters.items_processed} of the records were decoded")
            time.sleep(0.01)
        ingested = time.perf_counter()
        answer = session.probe(SMOKE_QUESTION, 8)
        answered = time.perf_counter()
    finally:
        engine.close()
    return {
        "load_s": loaded - started,
        "ingest_s": ingested - loaded,
        "answer_s": answered - ingested,
        "text": answer.text,
        "n_tokens": answer.n_tokens,
    }


def child_main(argv: list[str]) -> int:
    if argv[:1] == ["probe"]:
        result = probe()
    elif argv[:1] == ["smoke"] and len(argv) == 3:
        result = smoke(argv[1], int(argv[2]))
    else:
        print("usage: python -m streaminfer.doctor probe | smoke MODEL_PATH GPU_LAYERS", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
