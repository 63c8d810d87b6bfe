// The live sequence of a session: a prefix that is never touched, then a
// sliding window of whole entries (records, or raw appended text).
//
//   [0, prefix_end)          prefix: decoded once, never evicted
//   [prefix_end, pos_next)   window: entries oldest first
//
// Eviction removes the oldest entries' cells (llama_memory_seq_rm) and
// shifts the rest down (llama_memory_seq_add) so positions stay contiguous;
// nothing is decoded again. Decode thread only; readers on other threads
// go through the session's lock (see session.h).
#pragma once

#include "record-format.h"

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

struct llama_context;

namespace streaminfer {

struct window_entry {
    int32_t     n_tokens = 0;
    bool        is_record = false;
    record      rec;        // valid when is_record
    std::string text;       // as decoded
};

struct eviction {
    int32_t n_entries = 0;
    int32_t n_records = 0;
    int32_t n_tokens  = 0;
};

class kv_window {
public:
    kv_window(int32_t n_ctx, int32_t window_size);

    // After the prefix was decoded at [0, n_tokens).
    void set_prefix(int32_t n_tokens, std::string text);

    // Evicts the oldest entries until `n_records` more records fit in
    // window_size and `n_tokens` more tokens fit below `token_limit`.
    eviction make_room(llama_context * ctx, int32_t n_records, int32_t n_tokens, int32_t token_limit);

    // Records an entry just decoded at [pos_next, pos_next + n_tokens).
    void append(window_entry entry);

    // mark_prefix: the whole window becomes part of the prefix.
    int32_t freeze();

    // A restore (session-checkpoint.cpp): the entries that follow the prefix
    // as set_prefix() left it, decoded at [pos_next, pos_next + tokens):
    // `frozen` into the prefix, `window` as the window.
    void restore(std::vector<window_entry> frozen, std::vector<window_entry> window);

    int32_t prefix_end() const { return prefix_end_; }
    int32_t pos_next() const { return pos_next_; }
    int32_t n_ctx() const { return n_ctx_; }
    int32_t window_size() const { return window_size_; }
    int32_t data_count() const { return n_records_; }
    int32_t data_tokens() const { return pos_next_ - prefix_end_; }
    const std::deque<window_entry> & entries() const { return entries_; }
    const std::string & prefix_text() const { return prefix_text_; }
    // What mark_prefix froze, oldest first (bounded by the context).
    const std::vector<window_entry> & frozen() const { return frozen_; }

private:
    int32_t n_ctx_;
    int32_t window_size_;
    int32_t prefix_end_ = 0;
    int32_t pos_next_   = 0;
    int32_t n_records_  = 0;
    std::string              prefix_text_;
    std::deque<window_entry> entries_;
    std::vector<window_entry> frozen_;
};

} // namespace streaminfer
