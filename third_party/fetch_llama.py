"""Fetch the pinned llama.cpp sources from the package registry.

llama.cpp is taken from the sdist of ``llama-cpp-python`` (it carries
llama.cpp under ``vendor/llama.cpp``). The archive is downloaded with pip into
a cache directory, checked against the sha256 recorded in ``llama.sha256``
and its ``vendor/llama.cpp`` is unpacked into the destination.

Standard library only: CMake runs it at configure time, inside pip's build
environment. Usage: ``python fetch_llama.py DEST [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
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
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--no-build-isolation", f"{PACKAGE}=={VERSION}", "-d", str(cache),
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


def unpack(archive: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        staging = Path(tmp) / "llama.cpp"
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.name.startswith(VENDOR_PREFIX):
                    continue
                rel = member.name[len(VENDOR_PREFIX):]
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
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    print(f"fetch_llama: llama.cpp unpacked into {dest}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    unpack(download(args.cache), args.dest.resolve())


if __name__ == "__main__":
    main()
