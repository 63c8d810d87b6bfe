"""cmake/llama/fetch_llama.py: the strict patch applier, and the fetched tree
(patched, stamped, left alone while current, replaced whole when not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from build_helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "cmake" / "llama"))
import fetch_llama

ORIGINAL = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
PATCH = """What the patch does, in words: anything above the first --- line.

--- a/src/file.txt
+++ b/src/file.txt
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
@@ -5,3 +5,4 @@
 five
 six
+six and a half
 seven
"""


def write_tree(root: Path, patch: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "file.txt").write_bytes(ORIGINAL.encode())
    path = root / "change.patch"
    path.write_text(patch)
    return path


def test_a_patch_applies_exactly(tmp_path: Path) -> None:
    patch = write_tree(tmp_path, PATCH)
    fetch_llama.apply_patch(patch, tmp_path)
    assert (
        tmp_path / "src" / "file.txt"
    ).read_bytes() == b"one\nTWO\nthree\nfour\nfive\nsix\nsix and a half\nseven\n"


def test_a_patch_that_does_not_match_the_sources_is_refused(tmp_path: Path) -> None:
    patch = write_tree(tmp_path, PATCH.replace(" five\n six\n", " five\n SIX\n"))
    with pytest.raises(fetch_llama.PatchError, match=r"the hunk at src/file.txt:5 does not match"):
        fetch_llama.apply_patch(patch, tmp_path)


def test_a_hunk_header_that_miscounts_is_refused(tmp_path: Path) -> None:
    patch = write_tree(tmp_path, PATCH.replace("@@ -5,3 +5,4 @@", "@@ -5,2 +5,3 @@"))
    with pytest.raises(fetch_llama.PatchError, match="outside any hunk"):
        fetch_llama.apply_patch(patch, tmp_path)


def test_our_patches_each_say_what_and_why() -> None:
    patches = fetch_llama.patches()
    assert [p.name for p in patches] == ["ggml-amx-tile-config.patch", "ggml-x86-score-os-support.patch"]
    for patch in patches:
        description = patch.read_text().split("\n--- ", 1)[0].strip()
        assert len(description.splitlines()) >= 3, f"{patch.name} says too little about itself"
        assert fetch_llama.parse_patch(patch.read_text())


def fetch(dest: Path) -> subprocess.CompletedProcess[str]:
    script = REPO_ROOT / "cmake" / "llama" / "fetch_llama.py"
    return subprocess.run(
        [sys.executable, str(script), str(dest)], capture_output=True, text=True, timeout=900
    )


def test_the_tree_is_patched_kept_while_current_and_replaced_when_not(tmp_path: Path) -> None:
    dest = tmp_path / "llama.cpp"
    first = fetch(dest)
    assert first.returncode == 0, first.stderr
    assert "applied patches/ggml-amx-tile-config.patch" in first.stdout
    assert (dest / ".streaminfer-source").read_text() == fetch_llama.stamp()
    assert "ggml_amx_tile_config" in (dest / "ggml/src/ggml-cpu/amx/mmq.cpp").read_text()

    untouched = dest / "ggml" / "src" / "ggml.c"
    os.utime(untouched, (1_700_000_000, 1_700_000_000))
    again = fetch(dest)
    assert again.returncode == 0 and again.stdout == "", "a current tree must be left alone"

    (dest / ".streaminfer-source").write_text("from another archive or patch set\n")
    (dest / "stray-file").write_text("not from the archive")
    replaced = fetch(dest)
    assert replaced.returncode == 0, replaced.stderr
    assert "replacing it" in replaced.stdout
    assert not (dest / "stray-file").exists()
    assert (dest / ".streaminfer-source").read_text() == fetch_llama.stamp()
    assert untouched.stat().st_mtime == 1_700_000_000, "an unchanged file keeps its time: no needless rebuild"
    assert [p.name for p in tmp_path.iterdir() if p.name != "llama.cpp"] == [".llama.cpp.lock"]
