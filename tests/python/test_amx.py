"""AMX: off by default, and correct when opted into (-DSTREAMINFER_AMX=ON).

As released, ggml's AMX kernels die with SIGILL on AMX Xeons: built on the
stack, their tile config loses every store but the palette byte (GCC 12), so
the first tileloadd meets unconfigured tiles. cmake/llama/patches/
ggml-amx-tile-config.patch fixes that. These tests check:
- that the default build holds no AMX instruction at all (on an AMX build
  machine, -march=native alone would compile them in);
- that the patched kernel loads a complete config: checked in the compiled
  code, which any machine with GCC can do;
- that AMX decodes like the plain kernels: needs AMX hardware and the opt-in.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from build_helpers import REPO_ROOT, instruction_encodings
from engine_helpers import ohlcv_records, wait_idle

from streaminfer import _core

LLAMA_SRC = REPO_ROOT / "third_party" / "llama.cpp"
MMQ = LLAMA_SRC / "ggml" / "src" / "ggml-cpu" / "amx" / "mmq.cpp"

# The config ggml's AMX kernels need (amx/mmq.cpp): palette 1; tiles 0-1 hold
# B (8 rows of 64 bytes), 2-3 hold A (16 x 32), 4-7 hold C (16 x 64).
EXPECTED_COLSB = (64, 64, 32, 32, 64, 64, 64, 64)
EXPECTED_ROWS = (8, 8, 16, 16, 16, 16, 16, 16)


def test_the_default_build_holds_no_amx_instruction() -> None:
    """_core and, in a portable install, every library and CPU variant beside it."""
    info = _core.system_info()
    if "AMX_INT8" in info.cpu_features:
        pytest.skip("this build opted into AMX (-DSTREAMINFER_AMX=ON)")
    binaries = sorted(Path(_core.__file__).parent.glob("*.so"))
    assert Path(_core.__file__) in binaries
    for binary in binaries:
        counts = instruction_encodings(binary)
        assert counts["amx"] == 0, f"{binary} holds {counts['amx']} AMX instructions"
    assert not info.amx


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it compiles or reads the AMX kernel)")
    return path


def test_the_patched_amx_kernel_loads_a_complete_tile_config(tmp_path: Path) -> None:
    if not (LLAMA_SRC / ".streaminfer-source").is_file():
        pytest.skip(
            "third_party/llama.cpp is not the fetched, patched tree (STREAMINFER_LLAMA_SRC is in use)"
        )
    gxx, objdump = _tool("g++"), _tool("objdump")
    obj = tmp_path / "mmq.o"
    ggml = LLAMA_SRC / "ggml"
    compile_ = subprocess.run(
        [
            gxx, "-std=c++17", "-O3", "-DNDEBUG", "-march=sapphirerapids", "-c", str(MMQ), "-o", str(obj),
            f"-I{ggml / 'include'}", f"-I{ggml / 'src'}", f"-I{ggml / 'src' / 'ggml-cpu'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if compile_.returncode != 0 and "sapphirerapids" in compile_.stderr:
        pytest.skip(f"{gxx} cannot target Sapphire Rapids (GCC 11 or later can)")
    assert compile_.returncode == 0, compile_.stderr[-3000:]

    # Each ldtilecfg must read a constant, not the stack: its operand is
    # RIP-relative and its relocation points at the config symbol.
    disassembly = subprocess.run(
        [objdump, "-drw", str(obj)], capture_output=True, text=True, check=True
    ).stdout
    symbols = subprocess.run([objdump, "-t", str(obj)], capture_output=True, text=True, check=True).stdout
    config = re.search(r"^([0-9a-f]+) l\s+O \.rodata\s+([0-9a-f]+) .*ggml_amx_tile_config", symbols, re.M)
    assert config is not None, "no ggml_amx_tile_config constant in .rodata: is the patch applied?"
    offset, size = int(config[1], 16), int(config[2], 16)
    assert size == 64
    # -w puts each instruction on one line, its relocation last.
    loads = re.findall(r"ldtilecfg\s+(\S+).*R_X86_64_PC32\s+\.rodata([+-]0x[0-9a-f]+)$", disassembly, re.M)
    assert loads, "no ldtilecfg reads .rodata"
    assert len(loads) == disassembly.count("ldtilecfg"), "an ldtilecfg reads something else (the stack?)"
    for operand, addend in loads:
        assert operand.endswith("(%rip)")
        assert int(addend, 16) + 4 == offset  # PC32: the displacement is taken from the next 4 bytes

    data = _section_bytes(objdump, obj, ".rodata")[offset : offset + 64]
    assert data[0] == 1, "palette 1"
    assert struct.unpack_from("<8H", data, 16) == EXPECTED_COLSB
    assert struct.unpack_from("<8B", data, 48) == EXPECTED_ROWS


def _section_bytes(objdump: str, obj: Path, section: str) -> bytes:
    dump = subprocess.run(
        [objdump, "-s", "-j", section, str(obj)], capture_output=True, text=True, check=True
    )
    out = bytearray()
    for line in dump.stdout.splitlines():
        match = re.match(r"^ ([0-9a-f]+) ((?:[0-9a-f]{2,8} ?){1,4})", line)
        if match:
            assert int(match[1], 16) == len(out)
            out += bytes.fromhex(match[2].replace(" ", ""))
    return bytes(out)


@pytest.mark.skipif(
    not _core.system_info().amx,
    reason="AMX is not in use: needs a CPU with AMX (Intel Xeon 4th gen, Sapphire Rapids, or later) "
    "and a build with CMAKE_ARGS=-DSTREAMINFER_AMX=ON",
)
def test_amx_kernels_answer_like_the_plain_kernels(model_path: Path) -> None:
    """Weights in AMX tiles against the same weights in the file's layout: the
    same greedy answer, and first-step logits within quantization noise."""
    answers = []
    for repack in (True, False):
        engine = _core.Engine(str(model_path), n_ctx=1024, repack=repack)
        try:
            session = engine.create_session("amx", "ohlcv", "", 1024)
            session.push(ohlcv_records(24))
            wait_idle(session)
            answers.append(session.probe("Is the trend bullish or bearish?", 8))
        finally:
            engine.close()
    amx, plain = answers
    assert amx.text == plain.text
    largest = max(abs(a - b) for a, b in zip(amx.logits, plain.logits, strict=True))
    assert largest < 0.5, f"AMX logits differ from the plain kernels' by up to {largest}"
