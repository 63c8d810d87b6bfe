"""The README's Python section runs as written: each ``python`` block under "## Python",
extracted from the Markdown, in a fresh interpreter on the real model, with a real server
named by STREAMINFER_BASE_URL for the client's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_server import RunningServer

README = Path(__file__).resolve().parents[2] / "README.md"


def python_snippets() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_python_section_has_snippets() -> None:
    assert python_snippets()


@pytest.mark.parametrize("index", range(len(python_snippets())))
def test_readme_python_snippet_runs(
    index: int, model_path: Path, api_server: RunningServer, tmp_path: Path
) -> None:
    code = python_snippets()[index]
    env = {**os.environ, "STREAMINFER_BASE_URL": api_server.base_url}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the snippet printed nothing"
