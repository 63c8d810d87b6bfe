#!/usr/bin/env bash
# Compile streaminfer with ggml's CUDA backend on a machine with neither a GPU
# nor a CUDA toolkit: CUDA 13's compiler, runtime and cuBLAS come from the
# package registry into a throwaway virtual environment, and pip builds the
# wheel as README "CUDA" tells a user to.
#
#   scripts/cuda-build-check.sh [ARCH]
#
# ARCH is CMAKE_CUDA_ARCHITECTURES (default 90: the H100, H200). The wheel is
# written to build/cuda-check/dist; the venv and the build tree
# (build/cuda-check/build) persist and, with ccache installed, host and device
# objects are cached. On 2 cores a first build takes about half an hour
# (bench/RESULTS.md); delete build/cuda-check to start over.
set -euo pipefail

arch="${1:-90}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$repo/build/cuda-check"
venv="$work/venv"
start=$(date +%s)
say() { echo "cuda-build-check: $*" >&2; }

# The CUDA 13 toolkit on the registry, one version of each part. (The -cu12
# packages carry no nvcc, only ptxas.)
cuda_packages=(
    nvidia-cuda-nvcc==13.5.37
    nvidia-cuda-crt==13.5.37
    nvidia-nvvm==13.5.37
    nvidia-cuda-runtime==13.5.37
    nvidia-cuda-cccl==13.3.5.0.6
    nvidia-cublas==13.10.0.20
)

# Reused when there: new files for the same toolkit would make ninja and ccache
# compile every CUDA object again.
say "virtual environment with the CUDA 13 toolkit in $venv"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "${cuda_packages[@]}" "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja
cuda="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')"
"$cuda/bin/nvcc" --version | tail -2 >&2

# What CMake's FindCUDAToolkit expects of a toolkit and the wheels leave out:
# unversioned library names, and the driver library. The real libcuda.so.1
# comes with the NVIDIA driver on a GPU machine; to link without one, a
# link-time library under the driver's soname exports every driver function
# cuda.h declares (preprocessed, so the versioned names such as cuMemAlloc_v2),
# as the full toolkit's lib64/stubs/libcuda.so does. One without the symbols
# would be dropped by the linker (--as-needed) and _core would not load.
for lib in cudart cublas cublasLt; do
    ln -sf "lib$lib.so.13" "$cuda/lib/lib$lib.so"
done
driver="$work/link-driver"
mkdir -p "$driver"
cc -E -P -I"$cuda/include" "$cuda/include/cuda.h" |
    grep -oE '\bCUresult +(CUDAAPI +)?cu[A-Za-z0-9_]+ *\(' | grep -oE 'cu[A-Za-z0-9_]+' | sort -u |
    sed 's/.*/void &(void) {}/' > "$driver/libcuda.c"
say "link-time driver library: $(wc -l < "$driver/libcuda.c") functions"
cc -shared -fPIC "$driver/libcuda.c" -Wl,-soname,libcuda.so.1 -o "$driver/libcuda.so"

export PATH="$cuda/bin:$PATH"
export CMAKE_ARGS="-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$arch \
-DCUDAToolkit_ROOT=$cuda -DCMAKE_CUDA_COMPILER=$cuda/bin/nvcc \
-DCUDA_cuda_driver_LIBRARY=$driver/libcuda.so"
say "pip wheel with CMAKE_ARGS=$CMAKE_ARGS"
"$venv/bin/pip" wheel "$repo" -v --no-build-isolation --no-deps --wheel-dir "$work/dist" \
    -Cbuild-dir="$work/build"

wheel="$(ls -t "$work"/dist/streaminfer-*.whl | head -1)"
core="$(unzip -Z1 "$wheel" | grep '_core.*\.so$')"
rm -rf "$work/check" && unzip -q -o "$wheel" "$core" -d "$work/check"
say "$wheel: _core needs"
readelf -d "$work/check/$core" | grep NEEDED >&2
needs() { readelf -d "$work/check/$core" | grep -q "Shared library: \[$1\]"; }
needs libcudart.so.13 || { say "_core does not link the CUDA runtime"; exit 1; }
if nm -D --undefined-only "$work/check/$core" | grep -qE ' cu[A-Z]' && ! needs libcuda.so.1; then
    say "_core calls the CUDA driver but does not link libcuda.so.1: it would not load"; exit 1
fi
say "done in $(( $(date +%s) - start )) s"
