// A session written down (run_checkpoint) and brought back (open_restored).
//
// The entries are the truth: a restore tokenizes each one as the session
// did (a record's line, an appended text) and decodes them after the
// prefix, a rebuild of the context from scratch. llama.cpp's state of the
// live sequence is a shortcut to the same cells: it is used only when it
// loads and lands exactly where the entries say the sequence ends, so a
// state from another model, llama.cpp or context setting never becomes a
// session's context.
#include "session.h"

#include "clock.h"

#include "llama.h"

namespace streaminfer {

session_checkpoint session::run_checkpoint(bool with_kv) {
    check_open();
    session_checkpoint cp;
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        cp.frozen = window_.frozen();
        cp.window.assign(window_.entries().begin(), window_.entries().end());
    }
    cp.next_seq      = next_seq_;
    cp.data_version  = data_version();
    cp.counters      = counters_.snapshot();
    cp.flash         = flash_.list();
    cp.next_flash_id = flash_.next_id();
    if (with_kv) {
        cp.kv_state.resize(llama_state_seq_get_size(ctx_, SEQ_LIVE));
        const size_t n = llama_state_seq_get_data(ctx_, cp.kv_state.data(), cp.kv_state.size(), SEQ_LIVE);
        cp.kv_state.resize(n);
    }
    return cp;
}

namespace {

// The tokens of each entry, as the session decoded them.
int32_t tokenize_entries(const model & mdl, std::vector<window_entry> & entries, std::vector<token_id> & out) {
    int32_t n = 0;
    for (window_entry & e : entries) {
        if (e.is_record) {
            e.text = format_record(e.rec);
        }
        const std::vector<token_id> tokens = mdl.tokenize(e.text, false, false);
        e.n_tokens = static_cast<int32_t>(tokens.size());
        out.insert(out.end(), tokens.begin(), tokens.end());
        n += e.n_tokens;
    }
    return n;
}

} // namespace

void session::open_restored() {
    session_checkpoint cp = std::move(*restore_);
    restore_.reset();
    // What no longer fits (another model tokenizes longer; its automatic
    // window is smaller) slides out, oldest first, as it would have live.
    std::vector<token_id> frozen_tokens;
    const int32_t n_prefix = static_cast<int32_t>(prefix_.tokens.size());
    const int32_t n_frozen = tokenize_entries(model_, cp.frozen, frozen_tokens);
    std::vector<token_id> window_tokens;
    tokenize_entries(model_, cp.window, window_tokens);
    const int32_t limit = token_limit();
    int32_t       n_window = static_cast<int32_t>(window_tokens.size());
    int32_t       n_records = 0;
    for (const window_entry & e : cp.window) {
        n_records += e.is_record ? 1 : 0;
    }
    size_t first = 0;
    int32_t dropped_tokens = 0;
    int64_t dropped_records = 0;
    while (first < cp.window.size() && (n_records > window_size_ || n_prefix + n_frozen + n_window > limit)) {
        const window_entry & e = cp.window[first++];
        n_window -= e.n_tokens;
        dropped_tokens += e.n_tokens;
        n_records -= e.is_record ? 1 : 0;
        dropped_records += e.is_record ? 1 : 0;
    }
    if (n_prefix + n_frozen > limit) {
        throw context_full_error("the restored prefix takes " + std::to_string(n_prefix + n_frozen) +
                                     " tokens; the session's context leaves " + std::to_string(limit),
                                 n_prefix + n_frozen, limit);
    }
    const int32_t n_total = n_prefix + n_frozen + n_window;

    llama_memory_t mem = llama_get_memory(ctx_);
    bool from_kv = false;
    if (!cp.kv_state.empty() && first == 0) {
        from_kv = llama_state_seq_set_data(ctx_, cp.kv_state.data(), cp.kv_state.size(), SEQ_LIVE) > 0 &&
                  llama_memory_seq_pos_min(mem, SEQ_LIVE) == 0 && llama_memory_seq_pos_max(mem, SEQ_LIVE) == n_total - 1;
        if (!from_kv) {
            llama_memory_seq_rm(mem, SEQ_LIVE, -1, -1);
        }
    }
    if (!from_kv) {
        std::vector<token_id> tokens = prefix_.tokens;
        tokens.insert(tokens.end(), frozen_tokens.begin(), frozen_tokens.end());
        tokens.insert(tokens.end(), window_tokens.begin() + dropped_tokens, window_tokens.end());
        if (!decode_tokens(tokens, 0)) {
            llama_free(ctx_);
            ctx_ = nullptr;
            throw std::runtime_error("llama_decode failed on the restored context");
        }
    }
    // The counters go on from the checkpoint's; the records from next_seq on
    // are pushed again by the caller, and counted again as they are.
    session_counters counters = cp.counters;
    counters.total_enqueued = cp.next_seq;
    counters.tokenized      = std::min(counters.tokenized, cp.next_seq);
    counters.evicted       += dropped_records;
    counters_.restore(counters);
    next_seq_ = cp.next_seq;
    data_version_.store(cp.data_version, std::memory_order_release);
    restored_from_kv_.store(from_kv, std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        window_.set_prefix(n_prefix, prefix_.text);
        window_.restore(std::move(cp.frozen),
                        std::vector<window_entry>(std::make_move_iterator(cp.window.begin() + static_cast<std::ptrdiff_t>(first)),
                                                  std::make_move_iterator(cp.window.end())));
        last_inject_us_ = unix_us();
        publish_positions();
    }
    // A new data version: the flash queries are answered on the restored
    // context before any flash_ready is sent.
    publish_data_update();
}

} // namespace streaminfer
