#include "backends.h"

#include "ggml-backend.h"
#include "llama.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>

namespace streaminfer {

namespace {

void log_filter(ggml_log_level level, const char * text, void * /*user*/) {
    static const bool verbose = [] {
        const char * env = std::getenv("STREAMINFER_LLAMA_LOG");
        return env != nullptr && std::strcmp(env, "info") == 0;
    }();
    if (verbose || level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) {
        std::fputs(text, stderr);
    }
}

#ifdef GGML_BACKEND_DL
// The file of the loaded object that holds `address` ("" if unknown).
std::string object_file_of(const void * address) {
    Dl_info info{};
    if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) {
        return {};
    }
    return info.dli_fname;
}

std::string directory_of(const std::string & file) {
    const size_t slash = file.rfind('/');
    return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

void load_backend_modules() {
    // The modules sit beside libggml, in the build tree (bin/) as in the wheel.
    const std::string libggml = object_file_of(reinterpret_cast<const void *>(&ggml_backend_load_all_from_path));
    if (libggml.empty()) {
        throw std::runtime_error("cannot tell where libggml was loaded from (dladdr failed), so not where its "
                                 "CPU backend modules are");
    }
    const std::string dir = directory_of(libggml);
    ggml_backend_load_all_from_path(dir.c_str());
    if (ggml_backend_reg_by_name("CPU") == nullptr) {
        throw std::runtime_error("no ggml CPU backend could be loaded from " + dir +
                                 ": the libggml-cpu-*.so variants are missing, or none runs on this CPU "
                                 "(run `streaminfer doctor`)");
    }
}
#endif

bool is_gpu(ggml_backend_dev_t dev) {
    const auto type = ggml_backend_dev_type(dev);
    return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

template <typename Fn>
Fn reg_proc(ggml_backend_reg_t reg, const char * name) {
    return reinterpret_cast<Fn>(ggml_backend_reg_get_proc_address(reg, name));
}

void describe_cpu(system_info & info) {
    ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
    if (cpu == nullptr) {
        return;
    }
    auto get_features = reg_proc<ggml_backend_get_features_t>(cpu, "ggml_backend_get_features");
    bool amx_built = false;
    if (get_features != nullptr) {
        for (const ggml_backend_feature * f = get_features(cpu); f->name != nullptr; ++f) {
            const bool flag = std::strcmp(f->value, "1") == 0;
            info.cpu_features.push_back(flag ? std::string(f->name) : std::string(f->name) + "=" + f->value);
            amx_built = amx_built || (flag && std::strcmp(f->name, "AMX_INT8") == 0);
        }
    }
    // ggml offers its AMX buffer type only once the kernel granted the process
    // the tile data state (arch_prctl); weights then go there.
    auto get_extra = reg_proc<ggml_backend_dev_get_extra_bufts_t>(cpu, "ggml_backend_dev_get_extra_bufts");
    if (amx_built && get_extra != nullptr && ggml_backend_reg_dev_count(cpu) > 0) {
        for (ggml_backend_buffer_type_t * b = get_extra(ggml_backend_reg_dev_get(cpu, 0)); *b != nullptr; ++b) {
            info.amx = info.amx || std::strcmp(ggml_backend_buft_name(*b), "AMX") == 0;
        }
    }
#ifdef GGML_BACKEND_DL
    // Named for its variant: libggml-cpu-<variant>.so.
    info.cpu_backend_path = object_file_of(reinterpret_cast<const void *>(get_features));
    const std::string file = info.cpu_backend_path.substr(info.cpu_backend_path.rfind('/') + 1);
    const std::string prefix = "libggml-cpu-";
    const size_t      dot    = file.find('.');
    info.cpu_variant = file.rfind(prefix, 0) == 0 ? file.substr(prefix.size(), dot - prefix.size()) : file;
#else
    info.cpu_variant = "native";
#endif
}

} // namespace

void ensure_backend() {
    // Once, and a failure is final: loading the modules again would register
    // the ones that did load a second time.
    static std::mutex         mu;
    static bool               done = false; // guarded by mu
    static std::exception_ptr failure;      // guarded by mu
    std::lock_guard<std::mutex> lock(mu);
    if (!done) {
        done = true;
        try {
            llama_log_set(log_filter, nullptr);
            llama_backend_init();
#ifdef GGML_BACKEND_DL
            load_backend_modules();
#endif
        } catch (...) {
            failure = std::current_exception();
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
}

bool gpu_available() {
    ensure_backend();
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        if (is_gpu(ggml_backend_dev_get(i))) {
            return true;
        }
    }
    return false;
}

system_info describe_system() {
    ensure_backend();
    system_info info;
#ifdef GGML_BACKEND_DL
    info.build = "portable";
#else
    info.build = "native";
#endif
#ifdef STREAMINFER_WITH_CUDA
    info.cuda_built = true;
#endif
    info.cuda_loaded = ggml_backend_reg_by_name("CUDA") != nullptr;
    describe_cpu(info);
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (!is_gpu(dev)) {
            continue;
        }
        gpu_info gpu;
        gpu.name        = ggml_backend_dev_name(dev);
        gpu.description = ggml_backend_dev_description(dev);
        size_t free = 0;
        size_t total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        gpu.memory_free  = free;
        gpu.memory_total = total;
        info.gpus.push_back(std::move(gpu));
    }
    info.llama_info = llama_print_system_info();
    return info;
}

const char * llama_build_id() {
    return STREAMINFER_LLAMA_BUILD_ID;
}

} // namespace streaminfer
