#include "kv-window.h"

#include "batch-decoder.h"

#include "llama.h"

namespace streaminfer {

kv_window::kv_window(int32_t n_ctx, int32_t window_size) : n_ctx_(n_ctx), window_size_(window_size) {}

void kv_window::set_prefix(int32_t n_tokens, std::string text) {
    prefix_end_  = n_tokens;
    pos_next_    = n_tokens;
    prefix_text_ = std::move(text);
}

eviction kv_window::make_room(llama_context * ctx, int32_t n_records, int32_t n_tokens, int32_t token_limit) {
    eviction ev;
    while (static_cast<size_t>(ev.n_entries) < entries_.size() &&
           (n_records_ - ev.n_records + n_records > window_size_ ||
            pos_next_ - ev.n_tokens + n_tokens > token_limit)) {
        const window_entry & oldest = entries_[static_cast<size_t>(ev.n_entries)];
        ev.n_tokens  += oldest.n_tokens;
        ev.n_records += oldest.is_record ? 1 : 0;
        ev.n_entries += 1;
    }
    if (ev.n_entries == 0) {
        return ev;
    }
    llama_memory_t mem = llama_get_memory(ctx);
    // [prefix_end, prefix_end + evicted) goes; [prefix_end + evicted, pos_next) moves down.
    llama_memory_seq_rm(mem, SEQ_LIVE, prefix_end_, prefix_end_ + ev.n_tokens);
    llama_memory_seq_add(mem, SEQ_LIVE, prefix_end_ + ev.n_tokens, -1, -ev.n_tokens);
    entries_.erase(entries_.begin(), entries_.begin() + ev.n_entries);
    n_records_ -= ev.n_records;
    pos_next_  -= ev.n_tokens;
    return ev;
}

void kv_window::append(window_entry entry) {
    pos_next_ += entry.n_tokens;
    n_records_ += entry.is_record ? 1 : 0;
    entries_.push_back(std::move(entry));
}

int32_t kv_window::freeze() {
    const int32_t frozen = n_records_;
    for (window_entry & e : entries_) {
        prefix_text_ += e.text;
        frozen_.push_back(std::move(e));
    }
    entries_.clear();
    n_records_  = 0;
    prefix_end_ = pos_next_;
    return frozen;
}

void kv_window::restore(std::vector<window_entry> frozen, std::vector<window_entry> window) {
    for (window_entry & e : frozen) {
        append(std::move(e));
    }
    freeze();
    for (window_entry & e : window) {
        append(std::move(e));
    }
}

} // namespace streaminfer
