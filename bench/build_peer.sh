#!/usr/bin/env bash
# Build the peer binaries (llama-server, llama-bench) from the same pinned
# llama.cpp source that streaminfer's core links, in a separate build
# directory (build/peer, git-ignored). CPU backend, Release, ggml settings
# matching the core's (no OpenMP). Nothing built here is ever committed.
#
# Usage: bench/build_peer.sh            (from anywhere inside the repository)
# Env:   JOBS (default 2), PEER_BUILD_DIR (default build/peer)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${STREAMINFER_LLAMA_SRC:-$root/third_party/llama.cpp}"
build="${PEER_BUILD_DIR:-$root/build/peer}"
jobs="${JOBS:-2}"
python="${PYTHON:-python3}"

if [[ ! -f "$src/CMakeLists.txt" ]]; then
    echo "build_peer: fetching pinned llama.cpp into $src"
    "$python" "$root/cmake/llama/fetch_llama.py" "$src"
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# The web UI is neither built (npm) nor downloaded: the server only needs
# its HTTP API here, and the build must not reach the network.
cmake -S "$src" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DGGML_OPENMP=OFF \
    "${launcher[@]}"

nice cmake --build "$build" --config Release -j "$jobs" --target llama-server llama-bench

for exe in llama-server llama-bench; do
    test -x "$build/bin/$exe" || { echo "build_peer: $build/bin/$exe missing" >&2; exit 1; }
done
echo "build_peer: $build/bin/llama-server $build/bin/llama-bench"
