// ggml's backends in this process: set up once, and described.
//
// The native build links ggml's CPU backend (and CUDA, when built) into _core,
// where each registers itself. The portable build (ggml's GGML_BACKEND_DL) has
// every backend as a module beside libggml: ensure_backend() loads the CPU
// variant with the highest score among those this CPU and OS can run, and any
// GPU backend whose runtime libraries are present.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace streaminfer {

// Once per process, from any thread: llama.cpp's log filter (warnings and
// errors to stderr; STREAMINFER_LLAMA_LOG=info shows everything), backend
// init, and in the portable build the modules. Throws std::runtime_error when
// no CPU backend could be loaded, and so does every later call.
void ensure_backend();

// Whether ggml found a GPU (or integrated GPU) device. Calls ensure_backend().
bool gpu_available();

struct gpu_info {
    std::string name;        // ggml's device name, e.g. "CUDA0"
    std::string description; // e.g. "NVIDIA H100 80GB HBM3"
    uint64_t    memory_free  = 0; // bytes
    uint64_t    memory_total = 0;
};

struct system_info {
    std::string              build;            // "native" or "portable"
    bool                     cuda_built  = false; // ggml was compiled with its CUDA backend
    bool                     cuda_loaded = false; // ... and it registered (its runtime was found)
    std::string              cpu_variant;      // "native", or the module's variant, e.g. "haswell"
    std::string              cpu_backend_path; // the module's file; empty in the native build
    std::vector<std::string> cpu_features;     // what the CPU backend was compiled for, ggml's names
    bool                     amx = false;      // AMX kernels compiled in, and the OS lets them run
    std::vector<gpu_info>    gpus;
    std::string              llama_info;       // llama_print_system_info()
};

// Calls ensure_backend() first.
system_info describe_system();

// What a KV state file's format depends on in this build: a hash of
// llama.cpp's state (de)serializer sources (CMakeLists.txt computes it).
const char * llama_build_id();

} // namespace streaminfer
