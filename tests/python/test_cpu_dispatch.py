"""Run-time CPU dispatch: what instructions each built binary holds, and which
variant of ggml's CPU backend the portable build picks on this machine.

Both would show a build that runs only where it was made: a variant compiled
with instructions above its name, a shared library compiled for the build
machine, or a pick this CPU or its OS cannot run (the choice is checked
against /proc/cpuinfo, which lists only what the kernel enables).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from build_helpers import ENCODINGS, PortableBuild, instruction_encodings

from streaminfer.doctor import GGML_TO_CPUINFO, missing_instructions, read_cpuinfo

pytestmark = pytest.mark.timeout(3600)  # the first test to use portable_build pays for it

# ggml's x86-64 variants (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS) and the
# /proc/cpuinfo flags each needs: this test's own statement of what each may hold.
SSE42 = ("sse4_2",)
AVX = (*SSE42, "avx")
HASWELL = (*AVX, "f16c", "fma", "avx2", "bmi2")
AVX512 = (*HASWELL, *GGML_TO_CPUINFO["AVX512"])
VARIANT_FLAGS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "sse42": SSE42,
    "sandybridge": AVX,
    "ivybridge": (*AVX, "f16c"),
    "piledriver": (*AVX, "f16c", "fma"),
    "haswell": HASWELL,
    "alderlake": (*HASWELL, "avx_vnni"),
    "skylakex": AVX512,
    "cannonlake": (*AVX512, "avx512vbmi"),
    "cascadelake": (*AVX512, "avx512_vnni"),
    "icelake": (*AVX512, "avx512vbmi", "avx512_vnni"),
    "cooperlake": (*AVX512, "avx512_vnni", "avx512_bf16"),
    "zen4": (*AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16"),
    "sapphirerapids": (*AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"),
}


def newest_encoding(flags: tuple[str, ...]) -> str:
    """The newest encoding a variant needing ``flags`` may use (AMX is checked on its own)."""
    if any(flag.startswith("avx512") for flag in flags):
        return "evex"
    return "vex" if "avx" in flags else "legacy"


def test_every_variant_is_known(portable_build: PortableBuild) -> None:
    built = set(portable_build.cpu_variants())
    assert built == set(VARIANT_FLAGS), (
        f"ggml's variants changed: built {sorted(built)}; update VARIANT_FLAGS in this file"
    )


def test_binaries_hold_no_instruction_above_their_variant(portable_build: PortableBuild) -> None:
    """Each variant holds the encodings its name allows, and uses the newest of them;
    the libraries every CPU loads hold none beyond SSE; no binary holds AMX (off by default)."""
    shared = [portable_build.python_module, *sorted(portable_build.library_dir.glob("lib*.so"))]
    shared = [p for p in shared if not p.name.startswith("libggml-cpu-")]
    names = {p.name for p in shared}
    assert names >= {"libstreaminfer-ggml-base.so", "libstreaminfer-ggml.so", "libstreaminfer-llama.so"}
    for binary in shared:
        counts = instruction_encodings(binary)
        assert counts["legacy"] > 1000, f"{binary.name}: no code found: {counts}"
        assert counts["vex"] == counts["evex"] == counts["amx"] == 0, f"{binary.name} needs AVX: {counts}"
    for variant, module in portable_build.cpu_variants().items():
        counts = instruction_encodings(module)
        newest = newest_encoding(VARIANT_FLAGS[variant])
        allowed = ENCODINGS[: ENCODINGS.index(newest) + 1]
        beyond = {e: n for e, n in counts.items() if e not in allowed and n}
        assert not beyond, f"{module.name} ({newest} at most) holds {beyond}"
        assert counts[newest] > 0, f"{module.name} does not use its {newest} instructions: {counts}"


# Run in a child process: the portable _core must not meet the installed native one.
PROBE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import _core
info = _core.system_info()
engine = _core.Engine(sys.argv[2], n_ctx=512, worker_nice=0)
session = engine.create_session("portable", "ohlcv", "", 512)
session.push([{"o": 185.5, "h": 186.2, "l": 184.9, "c": 185.7, "v": 12345}])
while session.state().counters.items_processed < 1:
    time.sleep(0.01)
answer = session.probe("What was the last close?", 8)
engine.close()
logits = answer.logits
print(json.dumps({"build": info.build, "variant": info.cpu_variant, "path": info.cpu_backend_path,
                  "features": list(info.cpu_features), "amx": info.amx, "text": answer.text,
                  "n_tokens": answer.n_tokens, "first_token": logits.index(max(logits)),
                  "logits": logits}))
"""


def run_portable(library_dir: Path, model_path: Path) -> dict[str, Any]:
    """Load the portable _core found in ``library_dir``, decode a little, and report."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(library_dir), str(model_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"the portable core in {library_dir} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_portable_core_runs_the_best_variant_for_this_cpu(
    portable_build: PortableBuild, model_path: Path
) -> None:
    cpu = read_cpuinfo()
    if cpu is None:
        pytest.skip(
            "no /proc/cpuinfo: the variant cannot be checked against the CPU (Linux on x86-64 runs it)"
        )
    assert portable_build.python_module.parent == portable_build.library_dir
    got = run_portable(portable_build.library_dir, model_path)
    print(f"\nportable build on {cpu.model}: variant {got['variant']}, features {got['features']}")

    assert got["build"] == "portable"
    assert Path(got["path"]) == portable_build.cpu_variants()[got["variant"]]
    assert missing_instructions(got["features"], cpu.flags) == []
    runnable = {v for v, flags in VARIANT_FLAGS.items() if all(f in cpu.flags for f in flags)}
    assert got["variant"] in runnable
    better = [v for v in runnable if set(VARIANT_FLAGS[v]) > set(VARIANT_FLAGS[got["variant"]])]
    assert not better, f"picked {got['variant']} where {better} also run here"
    if all(flag in cpu.flags for flag in GGML_TO_CPUINFO["AVX512"]):
        assert "AVX512" in got["features"], "this CPU has AVX-512 and the portable build does not use it"
    assert not got["amx"]
    assert got["n_tokens"] >= 1 and got["text"].strip()


def test_every_variant_this_cpu_runs_decodes_alike(
    portable_build: PortableBuild, model_path: Path, tmp_path: Path
) -> None:
    """Each variant alone beside the libraries, as on a CPU where it is the best
    one: it loads, is picked, and answers like the others (the same first token,
    close logits: the kernels differ, the model does not)."""
    cpu = read_cpuinfo()
    if cpu is None:
        pytest.skip("no /proc/cpuinfo: which variants run here is unknown (Linux on x86-64 runs it)")
    variants = portable_build.cpu_variants()
    runnable = [v for v in VARIANT_FLAGS if v in variants and all(f in cpu.flags for f in VARIANT_FLAGS[v])]
    assert "x64" in runnable
    common = [portable_build.python_module, *portable_build.library_dir.glob("lib*.so")]
    common = [p for p in common if not p.name.startswith("libggml-cpu-")]
    answers = {}
    for variant in runnable:
        folder = tmp_path / variant
        folder.mkdir()
        for library in (*common, variants[variant]):
            shutil.copy2(library, folder / library.name)
        answers[variant] = run_portable(folder, model_path)
        assert answers[variant]["variant"] == variant
    base = answers["x64"]
    for variant, answer in answers.items():
        largest = max(abs(a - b) for a, b in zip(base["logits"], answer["logits"], strict=True))
        print(f"{variant:>14}: {answer['text']!r}, first-step logits within {largest:.3f} of x64")
        assert answer["first_token"] == base["first_token"], variant
        assert largest < 2.0, variant
