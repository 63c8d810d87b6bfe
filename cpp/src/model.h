// A GGUF model loaded through llama.cpp: weights, vocabulary, metadata.
//
// Immutable after construction, so any thread may read it; llama.cpp's
// tokenizer only reads the vocabulary and is safe to call concurrently.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

struct llama_model;
struct llama_vocab;

namespace streaminfer {

using token_id = int32_t;

// The file exists and is a GGUF, but llama.cpp could not load it.
class model_load_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The file is missing (mapped to FileNotFoundError).
class file_not_found_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct model_params {
    int32_t n_threads    = 0; // 0: hardware concurrency
    int32_t n_gpu_layers = 0; // layers offloaded to a GPU (< 0: all); any but 0 needs one (std::invalid_argument)
    // Weights repacked into ggml's extra CPU layouts (llama.cpp's "extra buffer
    // types": interleaved for AVX2/AVX-512 kernels, AMX tiles). Off keeps the
    // file's layout (llama-bench --repack 0).
    bool    repack = true;
};

class model {
public:
    // Throws file_not_found_error, std::invalid_argument (not a GGUF file) or model_load_error.
    model(const std::string & path, const model_params & params);
    ~model();
    model(const model &) = delete;
    model & operator=(const model &) = delete;

    llama_model *       raw() const { return model_; }
    const llama_vocab * vocab() const { return vocab_; }
    const std::string & path() const { return path_; }
    int32_t             n_threads() const { return n_threads_; }
    int32_t             n_gpu_layers() const { return n_gpu_layers_; }

    std::string architecture() const;
    std::string description() const;
    uint64_t    n_params() const;
    uint64_t    size_bytes() const;
    int32_t     n_ctx_train() const;
    int32_t     n_vocab() const;
    bool        has_chat_template() const;
    const char * chat_template() const; // nullptr when the model has none

    // Bytes of F16 KV cache a session context of n_ctx tokens allocates, as
    // session.cpp creates it (one unified cache shared by all its sequences).
    // An estimate from the model's hyperparameters: exact for full-attention
    // models, an upper bound for those with sliding-window layers.
    uint64_t kv_bytes(int32_t n_ctx) const;

    std::vector<token_id> tokenize(const std::string & text, bool add_special, bool parse_special) const;
    std::string           detokenize(const std::vector<token_id> & tokens) const;
    std::string           token_piece(token_id token) const;
    bool                  is_eog(token_id token) const;

private:
    std::string         path_;
    int32_t             n_threads_;
    int32_t             n_gpu_layers_;
    llama_model *       model_ = nullptr;
    const llama_vocab * vocab_ = nullptr;
};

} // namespace streaminfer
