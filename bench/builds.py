"""Ingest speed of the native and the portable build, side by side in one run.

``native`` is the installed ``streaminfer._core`` (ggml compiled for this
machine, -march=native). ``portable`` is a portable build's folder (its
``_core`` beside libllama, libggml and the CPU variants, as in the portable
wheel): by default the one the test suite builds, build/portable-tests/bin.
``--variants`` adds that build restricted to single variants (the folder
copied with only that variant), i.e. what an older CPU gets: e.g. ``haswell``
(AVX2) and ``x64`` (SSE2 only).

Each build runs in its own child process (two builds of ggml do not share a
process), the builds alternate ``--rounds`` times, and each round measures
sustained ingest (``bench/ingest.py``: an OHLCV session kept fed, decode never
idle) for ``--seconds``. Prints a markdown table of medians and writes
bench/out/builds.json.

Run after ``pytest tests/python/test_cpu_dispatch.py``, which builds
build/portable-tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.report import machine, machine_line, table, write_json
from bench.stats import median

DEFAULT_PORTABLE = ROOT / "build" / "portable-tests" / "bin"


def use_core_from(folder: Path) -> None:
    """Make the ``_core`` module in ``folder`` (another build's) ``streaminfer._core``
    for this process. Call it before anything imports ``streaminfer._core``; two
    builds of ggml must not share a process."""
    import streaminfer

    modules = sorted(folder.glob("_core*.so"))
    if not modules:
        raise SystemExit(f"no _core module in {folder}")
    spec = importlib.util.spec_from_file_location("streaminfer._core", modules[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["streaminfer._core"] = module
    spec.loader.exec_module(module)
    streaminfer._core = module


def run_child(name: str, child_args: list[str], what: str) -> dict[str, Any]:
    """``python -m bench NAME --child ...`` in a process of its own; its last line of output, as JSON."""
    command = [sys.executable, "-m", "bench", name, "--child", *child_args]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"bench {name}: {what} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def child(core_dir: str, model: str, threads: int, seconds: float) -> dict[str, Any]:
    """In the child: make ``core_dir``'s _core (or the installed one) streaminfer._core, then measure."""
    if core_dir:
        use_core_from(Path(core_dir))
    from bench import engine_state, ingest  # after the swap: they import streaminfer._core
    from streaminfer import _core

    engine = _core.Engine(model, n_ctx=2048, n_threads=threads)
    try:
        result = ingest.sustained_ingest(engine, seconds, warmup_s=5.0)
    finally:
        engine.close()
    result.update(engine_state.build_description())
    return result


def single_variant_folder(portable: Path, variant: str, into: Path) -> Path:
    """A copy of the portable folder with one CPU variant: ggml can pick only it."""
    folder = into / variant
    folder.mkdir()
    for library in portable.iterdir():
        if library.suffix == ".so" and (
            not library.name.startswith("libggml-cpu-") or library.name == f"libggml-cpu-{variant}.so"
        ):
            shutil.copy2(library, folder / library.name)
    return folder


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench builds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--portable", type=Path, default=DEFAULT_PORTABLE, help="a portable build's folder")
    p.add_argument("--variants", nargs="*", default=["haswell", "x64"], help="single variants to add")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child:
        core_dir, model, threads, seconds = args.child
        print(json.dumps(child(core_dir, model, int(threads), float(seconds))))
        return 0

    from streaminfer.models import resolve_model

    if not any(args.portable.glob("_core*.so")):
        raise SystemExit(
            f"bench builds: no portable _core in {args.portable}: build it with "
            "`pytest tests/python/test_cpu_dispatch.py` or pass --portable DIR"
        )
    model = str(resolve_model(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"native": "", "portable": str(args.portable)}
        for variant in args.variants:
            builds[f"portable, {variant} only"] = str(
                single_variant_folder(args.portable, variant, Path(tmp))
            )
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
        for r in range(args.rounds):
            for name, core_dir in builds.items():
                child_args = [core_dir, model, str(args.threads), str(args.seconds)]
                result = run_child("builds", child_args, core_dir or "native")
                runs[name].append(result)
                print(
                    f"  round {r + 1} {name} ({result['variant']}): {result['tokens_per_s_wall']:.0f} tok/s",
                    flush=True,
                )
    native = median([run["tokens_per_s_wall"] for run in runs["native"]])
    rows = []
    for name, results in runs.items():
        wall = median([run["tokens_per_s_wall"] for run in results])
        decode = median([run["tokens_per_s_decode"] for run in results])
        rows.append((name, results[0]["variant"], f"{wall:.0f}", f"{decode:.0f}", f"{wall / native:.2f}"))
    header = ("build", "CPU backend", "ingest tok/s (wall)", "tok/s (decode time)", "vs native")
    info = machine()
    print(f"\n{machine_line(info)}; {args.threads} threads; medians of {args.rounds} rounds\n")
    print(table(header, rows))
    path = write_json(
        "builds.json", {"machine": info, "args": vars(args) | {"portable": str(args.portable)}, "runs": runs}
    )
    print(f"JSON: {path}")
    return 0
