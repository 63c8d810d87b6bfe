"""Run each C++ test through ctest as a pytest test.

The tests come from the tests' portable build tree (build_helpers.py, the
``portable_build`` fixture), so they run against ggml's CPU variant that
this machine selects at run time. ctest runs each as tests/cpp/CMakeLists.txt
declares it, with the sanitizers' run-time options written there. Add a test
by adding its target name to build_helpers.CPP_TEST_TARGETS.

The engine tests (plain, ASan+UBSan, TSan) load the default model: they get
the path the session's model_path fixture resolves in STREAMINFER_TEST_MODEL.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from build_helpers import CPP_TEST_TARGETS, PortableBuild, require_tool

# Targets that load a model.
MODEL_TARGETS = frozenset({"test-engine", "test-engine-asan", "test-engine-tsan"})

RUN_TIMEOUT_S = 600

# Building llama.cpp in every CPU variant takes a while on 2 cores; the
# session fixture's time is charged to the first test.
pytestmark = pytest.mark.timeout(3600)


@pytest.mark.parametrize("target", CPP_TEST_TARGETS)
def test_cpp_binary(portable_build: PortableBuild, target: str, request: pytest.FixtureRequest) -> None:
    env = dict(os.environ)
    if target in MODEL_TARGETS:
        # Resolved only here, so the ring tests never fetch a model.
        env["STREAMINFER_TEST_MODEL"] = str(request.getfixturevalue("model_path"))
    cmd = [
        require_tool("ctest"),
        *("--test-dir", str(portable_build.root)),
        *("--tests-regex", f"^{target}$"),
        "--no-tests=error",  # a name ctest does not know fails rather than passing as "nothing run"
        "--output-on-failure",
        *("--timeout", str(RUN_TIMEOUT_S)),
    ]
    # ctest stops the test at RUN_TIMEOUT_S; the margin is for ctest itself.
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S + 60, check=False
    )
    assert proc.returncode == 0, (
        f"{target} failed: {' '.join(cmd)} exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
