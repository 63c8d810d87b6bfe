"""Fetch the pinned llama.cpp sources from the package registry and patch them.

llama.cpp is taken from the sdist of ``llama-cpp-python`` (it carries
llama.cpp under ``vendor/llama.cpp``). The archive is downloaded with pip into
a cache directory, checked against the sha256 recorded in ``llama.sha256``,
its ``vendor/llama.cpp`` is unpacked, and the unified diffs in ``patches/``
are applied in name order (each says what it changes and why). A stamp file
in the destination names the archive and the patches it was made from: while
it matches, running again does nothing, so CMake runs this at every configure
and a changed patch reaches every build tree.

Standard library only: CMake runs it at configure time, inside pip's build
environment. Usage: ``python fetch_llama.py DEST [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import fcntl
import filecmp
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATCHES = HERE / "patches"
STAMP = ".streaminfer-source"
PACKAGE = "llama-cpp-python"
VERSION = "0.3.36"
ARCHIVE = f"llama_cpp_python-{VERSION}.tar.gz"
VENDOR_PREFIX = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"


def expected_sha256() -> str:
    return (HERE / "llama.sha256").read_text().split()[0]


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streaminfer" / "sources"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(cache: Path) -> Path:
    archive = cache / ARCHIVE
    if archive.exists() and sha256_of(archive) == expected_sha256():
        print(f"fetch_llama: using cached {archive}", flush=True)
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    print(f"fetch_llama: downloading {PACKAGE}=={VERSION} (sdist) into {cache}", flush=True)
    # --no-build-isolation: pip prepares the sdist's metadata with the
    # scikit-build-core already present instead of building its whole build
    # environment (cmake included) from source, which --no-binary :all:
    # would otherwise demand.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--no-build-isolation",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(cache),
    ]
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0 or not archive.exists():
        sys.exit(
            f"fetch_llama: could not download {PACKAGE}=={VERSION} from the package registry "
            f"(pip exited {result.returncode}). Check the network, or point "
            "STREAMINFER_LLAMA_SRC at an unpacked llama.cpp source tree."
        )
    got = sha256_of(archive)
    if got != expected_sha256():
        archive.unlink()
        sys.exit(f"fetch_llama: sha256 mismatch for {ARCHIVE}: got {got}, expected {expected_sha256()}")
    return archive


class PatchError(Exception):
    """A patch does not apply to the pinned sources exactly as written."""


@dataclass
class Hunk:
    at: int  # 0-based index of the first original line it replaces
    old: list[str]  # the original lines (context and removed)
    new: list[str]  # what replaces them (context and added)


HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def parse_patch(text: str) -> dict[str, list[Hunk]]:
    """Files and hunks of a unified diff; anything before the first ``---`` is its description."""
    files: dict[str, list[Hunk]] = {}
    hunks: list[Hunk] | None = None
    lines = iter(text.split("\n"))
    for line in lines:
        if line.startswith("--- ") or line in ("", "\\ No newline at end of file"):
            continue
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0]
            hunks = files.setdefault(path[2:] if path.startswith("b/") else path, [])
            continue
        header = HUNK_HEADER.match(line)
        if header is None:
            if hunks is not None:  # past the description: only headers may come between hunks
                raise PatchError(f"a line outside any hunk (do the hunk headers count right?): {line!r}")
            continue
        if hunks is None:
            raise PatchError(f"a hunk before any +++ file line: {line!r}")
        start, n_old, n_new = int(header[1]), int(header[2] or 1), int(header[3] or 1)
        # A hunk that removes nothing inserts after line `start`; any other replaces from it.
        hunk = Hunk(start if n_old == 0 else start - 1, [], [])
        while len(hunk.old) < n_old or len(hunk.new) < n_new:
            body = next(lines, None)
            if body is None:
                raise PatchError(f"hunk at line {start} ends early")
            tag, rest = body[:1], body[1:]
            if tag not in (" ", "-", "+"):
                raise PatchError(f"unexpected line in hunk at line {start}: {body!r}")
            if tag != "+":
                hunk.old.append(rest)
            if tag != "-":
                hunk.new.append(rest)
        hunks.append(hunk)
    return files


def apply_patch(patch: Path, root: Path) -> None:
    """Apply ``patch`` under ``root``, every hunk at its stated line, with no fuzz."""
    files = parse_patch(patch.read_text(encoding="utf-8"))
    if not files:
        raise PatchError(f"{patch.name}: no file changes found")
    for rel, hunks in files.items():
        target = root / rel
        try:
            text = target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PatchError(f"{patch.name}: cannot read {rel}: {exc}") from exc
        lines = text.split("\n")  # a final newline leaves an empty last element, kept as is
        shift = 0  # lines added so far by earlier hunks of this file
        for hunk in hunks:
            at = hunk.at + shift
            if lines[at : at + len(hunk.old)] != hunk.old:
                raise PatchError(f"{patch.name}: the hunk at {rel}:{hunk.at + 1} does not match the sources")
            lines[at : at + len(hunk.old)] = hunk.new
            shift += len(hunk.new) - len(hunk.old)
        target.write_bytes("\n".join(lines).encode("utf-8"))


def patches() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def stamp() -> str:
    """What a finished tree was made from: the archive's and each patch's sha256."""
    entries = [f"{expected_sha256()}  {ARCHIVE}"]
    entries += [f"{sha256_of(p)}  patches/{p.name}" for p in patches()]
    return "\n".join(entries) + "\n"


def is_current(dest: Path) -> bool:
    try:
        return (dest / STAMP).read_text() == stamp()
    except OSError:
        return False


def keep_unchanged_times(old: Path, new: Path) -> None:
    """Give each file of ``new`` with the same bytes in ``old`` the old file's times."""
    if not old.is_dir():
        return
    for path in new.rglob("*"):
        before = old / path.relative_to(new)
        if path.is_file() and before.is_file() and filecmp.cmp(path, before, shallow=False):
            st = before.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def unpack(archive: Path, dest: Path) -> None:
    """Unpack and patch into a staging folder beside ``dest``, then swap it in.

    The stamp is written last into the staging tree and removed first from the
    old one, so a run cut short at any point leaves either no tree or a tree
    without a stamp, which the next run replaces. A file whose bytes did not
    change keeps the old tree's modification time, so a new patch rebuilds only
    what it touches (never the archive's own times: they may predate objects
    built from an older archive).
    """
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "new"
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.name.startswith(VENDOR_PREFIX):
                    continue
                rel = member.name[len(VENDOR_PREFIX) :]
                if not rel or member.issym() or member.islnk():
                    continue
                target = staging / rel
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, target.open("wb") as out:
                        shutil.copyfileobj(src, out)
                    target.chmod(member.mode & 0o755 | 0o644)
        if not (staging / "CMakeLists.txt").exists():
            sys.exit(f"fetch_llama: {ARCHIVE} has no {VENDOR_PREFIX}CMakeLists.txt")
        for patch in patches():
            try:
                apply_patch(patch, staging)
            except PatchError as exc:
                sys.exit(f"fetch_llama: {exc}")
            print(f"fetch_llama: applied patches/{patch.name}", flush=True)
        (staging / STAMP).write_text(stamp())
        keep_unchanged_times(dest, staging)
        if dest.exists():
            (dest / STAMP).unlink(missing_ok=True)
            dest.rename(Path(tmp) / "old")  # removed with the temporary folder
        staging.rename(dest)
    print(f"fetch_llama: llama.cpp unpacked into {dest}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    dest = args.dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One run at a time per destination (a pip build and the tests' build may configure at once).
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_current(dest):
            return
        if dest.exists():
            print(f"fetch_llama: {dest} is not from this archive and these patches; replacing it", flush=True)
        unpack(download(args.cache), dest)


if __name__ == "__main__":
    main()
