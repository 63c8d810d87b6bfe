#include "model.h"

#include "backends.h"
#include "llama.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace streaminfer {

namespace {

std::string meta_string(const llama_model * m, const char * key) {
    char buf[512];
    const int32_t n = llama_model_meta_val_str(m, key, buf, sizeof(buf));
    return n < 0 ? std::string() : std::string(buf);
}

int64_t meta_int(const llama_model * m, const std::string & key, int64_t fallback) {
    const std::string text = meta_string(m, key.c_str());
    char *            end  = nullptr;
    const long long   v    = std::strtoll(text.c_str(), &end, 10);
    return text.empty() || *end != '\0' || v <= 0 ? fallback : static_cast<int64_t>(v);
}

} // namespace

model::model(const std::string & path, const model_params & params)
    : path_(path),
      n_threads_(params.n_threads > 0 ? params.n_threads
                                      : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()))),
      n_gpu_layers_(params.n_gpu_layers) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw file_not_found_error("model file not found: " + path);
    }
    char magic[4] = {0, 0, 0, 0};
    file.read(magic, 4);
    if (file.gcount() != 4 || std::memcmp(magic, "GGUF", 4) != 0) {
        throw std::invalid_argument("not a GGUF model file (bad magic): " + path);
    }
    file.close();

    ensure_backend();
    if (params.n_gpu_layers != 0 && !gpu_available()) { // negative: all layers
        throw std::invalid_argument(
            "n_gpu_layers = " + std::to_string(params.n_gpu_layers) +
            " but no GPU is available: this build has no GPU backend, or its runtime found no device "
            "(see `streaminfer doctor`)");
    }
    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers    = params.n_gpu_layers;
    mparams.use_extra_bufts = params.repack;
    model_ = llama_model_load_from_file(path.c_str(), mparams);
    if (model_ == nullptr) {
        throw model_load_error("llama.cpp could not load the model (corrupt file or unsupported architecture): " + path);
    }
    vocab_ = llama_model_get_vocab(model_);
}

model::~model() {
    if (model_ != nullptr) {
        llama_model_free(model_);
    }
}

std::string model::architecture() const { return meta_string(model_, "general.architecture"); }

std::string model::description() const {
    char buf[256];
    llama_model_desc(model_, buf, sizeof(buf));
    return buf;
}

uint64_t model::n_params() const { return llama_model_n_params(model_); }
uint64_t model::size_bytes() const { return llama_model_size(model_); }
int32_t  model::n_ctx_train() const { return llama_model_n_ctx_train(model_); }
int32_t  model::n_vocab() const { return llama_vocab_n_tokens(vocab_); }
const char * model::chat_template() const { return llama_model_chat_template(model_, nullptr); }
bool     model::has_chat_template() const { return chat_template() != nullptr; }
bool     model::is_eog(token_id token) const { return llama_vocab_is_eog(vocab_, token); }

uint64_t model::kv_bytes(int32_t n_ctx) const {
    // llama.cpp rounds every context up to a multiple of 256 cells; with
    // kv_unified the sequences share those cells rather than each having its own.
    constexpr uint64_t CELL_PAD   = 256;
    constexpr uint64_t F16_BYTES  = 2;
    const uint64_t     cells      = (static_cast<uint64_t>(std::max<int32_t>(n_ctx, 1)) + CELL_PAD - 1) / CELL_PAD * CELL_PAD;
    const int64_t      n_head     = llama_model_n_head(model_);
    // Models whose head size is not n_embd / n_head (Gemma) say so in their metadata.
    const int64_t      head_dflt  = n_head > 0 ? llama_model_n_embd(model_) / n_head : 0;
    const std::string  arch       = architecture();
    const int64_t      head_k     = meta_int(model_, arch + ".attention.key_length", head_dflt);
    const int64_t      head_v     = meta_int(model_, arch + ".attention.value_length", head_dflt);
    const uint64_t     per_cell   = static_cast<uint64_t>(llama_model_n_layer(model_)) *
                              static_cast<uint64_t>(llama_model_n_head_kv(model_)) *
                              static_cast<uint64_t>(head_k + head_v) * F16_BYTES;
    return cells * per_cell;
}

std::vector<token_id> model::tokenize(const std::string & text, bool add_special, bool parse_special) const {
    std::vector<token_id> out(text.size() + 8);
    int32_t n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                               static_cast<int32_t>(out.size()), add_special, parse_special);
    if (n < 0) {
        out.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                           static_cast<int32_t>(out.size()), add_special, parse_special);
    }
    out.resize(static_cast<size_t>(std::max(0, n)));
    return out;
}

std::string model::token_piece(token_id token) const {
    char buf[256];
    const int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof(buf), 0, false);
    if (n >= 0) {
        return std::string(buf, static_cast<size_t>(n));
    }
    std::string big(static_cast<size_t>(-n), '\0');
    llama_token_to_piece(vocab_, token, big.data(), -n, 0, false);
    return big;
}

std::string model::detokenize(const std::vector<token_id> & tokens) const {
    std::string out;
    const int32_t n_vocab_tokens = n_vocab();
    for (const token_id t : tokens) {
        if (t < 0 || t >= n_vocab_tokens) {
            throw std::out_of_range("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                                    std::to_string(n_vocab_tokens) + ")");
        }
        out += token_piece(t);
    }
    return out;
}

} // namespace streaminfer
