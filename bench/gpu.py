"""GPU figures beside llama-bench, on the same GPU, model and ggml build: one command.

On a machine with an NVIDIA GPU and a CUDA toolkit (``nvcc`` on PATH):

1. builds ``build/gpu`` from one CMake tree with ggml's CUDA backend: our
   ``_core`` and llama.cpp's ``llama-bench`` (-DSTREAMINFER_LLAMA_BENCH=ON), so
   both run the very same ggml; the GPU architecture is the one in the machine
   (``--arch`` to name one);
2. writes a GGUF with the shape of Llama-3.1-8B and random Q4_0 weights
   (``bench/synthetic_gguf.py``; model files cannot travel to such a machine);
3. runs llama-bench, every layer on the GPU: prompt processing (pp512, and
   pp512 behind 1024 tokens of context) and generation (tg128);
4. runs ours in process on that build, every layer on the GPU: sustained
   ingest (tokens/s, as ``bench/ingest.py``), the fresh answer and flash
   fan-out (push a batch of 4 records, time until 1 / 5 / 20 standing answers
   are fresh, window 32, as ``bench/flash.py``) and the fresh answer at window 128.

Prints markdown tables and writes ``bench/out/gpu.json``. ``--no-cuda`` runs
the same on the CPU with a 2-layer model: a check of the pipeline on any
machine. Needs ``gguf``, ``numpy``, ``psutil`` and ``platformdirs``, and the
fetched llama.cpp in ``third_party/llama.cpp`` (the build reaches no network
when it is there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.builds import run_child, use_core_from
from bench.report import machine, table, write_json

BUILD = ROOT / "build" / "gpu"


def build(args: argparse.Namespace) -> Path:
    """Configure and build _core and llama-bench; return the build folder."""
    import pybind11

    folder = BUILD if args.cuda else ROOT / "build" / "gpu-check"
    cuda = ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={args.arch}"] if args.cuda else []
    configure = [
        *("cmake", "-S", str(ROOT), "-B", str(folder), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"),
        *("-DSTREAMINFER_BUILD_PYTHON_MODULE=ON", "-DSTREAMINFER_LLAMA_BENCH=ON"),
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        *cuda,
    ]
    jobs = str(os.cpu_count() or 2)
    started = time.monotonic()
    for command in (
        configure,
        ["cmake", "--build", str(folder), "-j", jobs, "--target", "_core", "llama-bench"],
    ):
        print(f"bench gpu: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run(command, check=True)
    print(f"bench gpu: built in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return folder


def synthetic_model(args: argparse.Namespace) -> Path:
    from bench import synthetic_gguf  # needs the gguf package

    layers = 32 if args.cuda else 2
    path = (BUILD if args.cuda else ROOT / "build" / "gpu-check") / f"llama-3.1-8b-shape-{layers}l-q4_0.gguf"
    if not path.is_file():
        synthetic_gguf.create(path, synthetic_gguf.Shape(n_layer=layers))
    return path


def llama_bench(folder: Path, model: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    exe = next(p for p in folder.rglob("llama-bench") if p.is_file() and os.access(p, os.X_OK))
    runs = [("-p", "512", "-n", "0"), ("-p", "512", "-n", "0", "-d", "1024"), ("-p", "0", "-n", "128")]
    rows = []
    for extra in runs:
        command = [str(exe), "-m", str(model), "-ngl", str(args.gpu_layers), "-t", str(args.threads)]
        command += [*extra, "-r", "3", "-o", "json"]
        print(f"bench gpu: {' '.join(command)}", file=sys.stderr, flush=True)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        row = json.loads(out)[0]
        row["command"] = " ".join(command)
        rows.append(row)
    return rows


def ours(folder: Path, model: Path, args: argparse.Namespace) -> dict[str, Any]:
    """In a child process on ``folder``'s _core (the installed one may be another build)."""
    child_args = [str(folder), str(model), "--gpu-layers", str(args.gpu_layers)]
    child_args += ["--threads", str(args.threads), "--seconds", str(args.seconds)]
    return run_child("gpu", child_args, "our run")


def child(folder: Path, model: Path, args: argparse.Namespace) -> dict[str, Any]:
    use_core_from(folder)
    from bench import engine_state, flash, ingest  # after the swap: they import streaminfer._core
    from streaminfer import _core

    info = engine_state.build_description()
    engine = _core.Engine(str(model), n_ctx=8192, n_threads=args.threads, n_gpu_layers=args.gpu_layers)
    try:
        ingested = ingest.sustained_ingest(engine, args.seconds, warmup_s=5.0)
        fanout = flash.flash_fanout(engine, flash.COUNTS, steps=5, window=32)
        wide = flash.flash_fanout(engine, (1,), steps=5, window=128)
    finally:
        engine.close()
    return {
        "gpus": info["gpus"],
        "cpu_variant": info["variant"],
        "ingest": ingested,
        "fanout": fanout,
        "wide": wide,
    }


def report(result: dict[str, Any]) -> str:
    bench = {(r["n_prompt"], r["n_gen"], r.get("n_depth", 0)): r["avg_ts"] for r in result["llama_bench"]}
    ingested = result["ours"]["ingest"]
    fanout = result["ours"]["fanout"]["per_count"]
    wide = result["ours"]["wide"]["per_count"]["1"]
    speed = [
        ("ingest (ours, tokens/s)", f"{ingested['tokens_per_s_wall']:.0f}"),
        ("llama-bench pp512 (tokens/s)", f"{bench[(512, 0, 0)]:.0f}"),
        ("llama-bench pp512 @ depth 1024", f"{bench[(512, 0, 1024)]:.0f}"),
        ("llama-bench tg128 (tokens/s)", f"{bench[(0, 128, 0)]:.1f}"),
        ("ours / pp512", f"{ingested['tokens_per_s_wall'] / bench[(512, 0, 0)]:.2f}"),
    ]
    fresh = [
        (
            f"{n} at W=32",
            f"{fanout[n]['median_push_to_fresh_ms']:.0f}",
            f"{fanout[n]['median_last_flash_ms']:.0f}",
        )
        for n in ("1", "5", "20")
    ]
    fresh.append(
        ("1 at W=128", f"{wide['median_push_to_fresh_ms']:.0f}", f"{wide['median_last_flash_ms']:.0f}")
    )
    gpus = ", ".join(result["ours"]["gpus"]) or "no GPU (CPU check)"
    return (
        f"{gpus}; model {Path(result['model']).name}; {result['gpu_layers']} layers on the GPU\n\n"
        + table(("figure", "value"), speed)
        + "\n\n"
        + table(("standing questions", "push -> all fresh (ms)", "flash refresh (ms)"), fresh)
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", default="native", help="CMAKE_CUDA_ARCHITECTURES (default: the GPU here)")
    p.add_argument("--no-cuda", dest="cuda", action="store_false", help="the same on the CPU, 2 layers")
    p.add_argument("--gpu-layers", type=int, default=None, help="default: 99 with CUDA, 0 without")
    p.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 2))
    p.add_argument("--seconds", type=float, default=20.0, help="of sustained ingest")
    p.add_argument("--child", nargs=2, metavar=("BUILD", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.gpu_layers is None:
        args.gpu_layers = 99 if args.cuda else 0
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), args)))
        return 0
    if args.cuda and shutil.which("nvcc") is None:
        raise SystemExit(
            "bench gpu: no nvcc on PATH: install a CUDA toolkit, or --no-cuda to check on the CPU"
        )
    folder = build(args)
    model = synthetic_model(args)
    result = {
        "machine": machine(),
        "command": " ".join(["python -m bench gpu", *argv]),
        "model": str(model),
        "gpu_layers": args.gpu_layers,
        "threads": args.threads,
        "llama_bench": llama_bench(folder, model, args),
        "ours": ours(folder, model, args),
    }
    print(report(result))
    print(f"JSON: {write_json('gpu.json', result)}")
    return 0
