// One live session: its llama_context (KV cache) with the live sequence and
// the window of records it holds. What it accepted and has not decoded yet
// is its record_queue's; its standing questions, its flash_registry's; its
// generate requests, its request_tracker's; its figures, live_counters and
// live_latencies. Generate and probe are in session-generate.cpp.
//
// Threads and ownership:
//   producer (the Python event loop)  push(): the queue's producer side only
//   tokenization worker               drain_ring(): the queue's consumer side
//   decode thread                     everything that touches ctx_ / window_
//                                     (the run_* methods), and the writes of
//                                     what readers see, under view_mu_
//   any thread                        the snapshots (state(), ...) and the
//                                     flash registry, under their locks
#pragma once

#include "core-errors.h"
#include "event-queue.h"
#include "flash-registry.h"
#include "kv-window.h"
#include "latency-stages.h"
#include "model.h"
#include "prompt-template.h"
#include "record-format.h"
#include "record-queue.h"
#include "request-tracker.h"
#include "session-counters.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct llama_context;

namespace streaminfer {

// Flash attention in a session's context (llama_flash_attn_type's values).
enum flash_attn_mode : int32_t {
    FLASH_ATTN_MODE_AUTO = -1, // where the backend supports it
    FLASH_ATTN_MODE_OFF  = 0,
    FLASH_ATTN_MODE_ON   = 1,
};

struct session_config {
    std::string  id;
    record_type  type = RECORD_TYPE_OHLCV;
    std::string  system_prompt;
    int32_t      n_ctx = 2048;
    int32_t      window_size = 0;       // 0: chosen from n_ctx, type and the flash reserve
    int32_t      n_batch = 512;
    int32_t      n_threads = 0;
    int32_t      queue_capacity = 0;        // 0: the engine default
    flash_attn_mode flash_attn = FLASH_ATTN_MODE_AUTO;
    bool         offload_kv = true;         // KV cache and attention on the GPU with the offloaded layers
    std::vector<std::pair<std::string, int64_t>> flash; // registered at creation (query, max_tokens)
};

// What a session holds now. Positions are KV cache positions: the prefix
// is [0, prefix_end), the data [prefix_end, pos_next), the rest is free.
struct session_state {
    record_type      type = RECORD_TYPE_OHLCV;
    int32_t          context_size = 0;
    int32_t          window_size = 0;
    int32_t          prefix_end = 0;
    int32_t          pos_next = 0;
    int32_t          pos_min = -1;        // as llama's memory reports them (-1: empty)
    int32_t          pos_max = -1;
    int32_t          data_count = 0;      // records in the window
    int32_t          data_tokens = 0;
    int64_t          last_inject_us = 0;  // Unix us of the last decoded batch
    int64_t          queue_size = 0;      // accepted and not yet decoded or skipped
    int64_t          ring_size = 0;       // of which still in the ring
    int64_t          queue_capacity = 0;
    int64_t          data_version = 0;
    bool             running = true;
    bool             error = false;       // a decode failed (the session goes on)
    session_counters counters;
};

// A session as it can be written down and brought back (session-checkpoint.cpp):
// what its context holds after the prompt, entry by entry (a record, or
// appended text), its counters, its flash queries, and optionally the KV
// cells themselves. A restore decodes the entries again unless `kv_state`
// loads (same model, llama.cpp and context settings).
struct session_checkpoint {
    std::vector<window_entry> frozen;     // what mark_prefix froze, oldest first
    std::vector<window_entry> window;     // oldest first (n_tokens is recomputed on restore)
    int64_t                   next_seq = 0; // the first accepted record neither decoded nor skipped
    int64_t                   data_version = 0;
    session_counters          counters;
    std::vector<flash_info>   flash;      // id, query, max_tokens (answers are recomputed)
    int32_t                   next_flash_id = 1;
    std::vector<uint8_t>      kv_state;   // llama_state_seq_get_data of the live sequence; empty: none
};

struct append_result {
    int32_t n_tokens_added = 0;
    int32_t pos_next = 0;
};

struct prefix_mark {
    int32_t prefix_end = 0;
    int32_t n_records_frozen = 0;
};

// How a generate request ended when it did not complete (its counter).
enum generate_end : int32_t {
    GENERATE_END_FAILED    = 0,
    GENERATE_END_CANCELLED = 1, // a cancel, or the session's close
};

class session {
public:
    // `restore`: a checkpoint to bring back (applied by open()); its records
    // from next_seq on are the caller's to push again.
    session(const model & mdl, const prompt_template & tmpl, event_queue & events, session_config cfg,
            std::optional<session_checkpoint> restore = std::nullopt);
    ~session();
    session(const session &) = delete;
    session & operator=(const session &) = delete;

    const std::string & id() const { return cfg_.id; }
    record_type         type() const { return cfg_.type; }
    int32_t             window_size() const { return window_size_; }
    int32_t             n_ctx() const { return n_ctx_; }

    // ---- producer (event loop thread) ----
    // Records must already be checked. Never blocks; a full ring drops.
    push_result push(std::vector<record> && records, const accept_hook & before_accept = {});

    // ---- tokenization worker ----
    // Formats and tokenizes what the ring holds; returns how many it moved.
    size_t drain_ring();

    // ---- decode thread ----
    void          open();                  // context + prefix, or the restore (once per lifetime)
    bool          has_stream_work() const;
    void          run_stream_batch();      // one batch of pending records
    bool          flash_stale() const { return flash_.stale(); }
    void          run_flash();             // answer every flash query
    // accepted_us: steady_us() when the engine accepted the request.
    void          run_generate(int64_t request_id, int64_t accepted_us, std::vector<token_id> prompt,
                               int32_t max_tokens, std::vector<std::string> stop);
    // Ends a request with a generate_error event, counted by `how` (also
    // the engine's, when run_generate threw).
    void          end_generate(int64_t request_id, generate_end how, const std::string & message);
    // Answers synchronously (diagnostics: equivalence test, benchmarks).
    answer_job    run_probe(const std::string & prompt, int32_t max_tokens);
    append_result run_append(const std::string & text);
    prefix_mark   run_mark_prefix();
    // with_kv: also llama.cpp's state of the live sequence (its size: the KV
    // cells in use). Between tasks, so no flash copy of the sequence exists.
    session_checkpoint run_checkpoint(bool with_kv);
    void          release();               // free the KV memory; the session is closed after

    // ---- any thread ----
    bool       closed() const { return closed_.load(std::memory_order_acquire); }
    void       check_open() const;         // throws session_closed_error
    // Marks the session closed at once (before release() runs on the decode
    // thread), so a generation in progress stops at its next step.
    void       begin_close() { closed_.store(true, std::memory_order_release); }
    flash_info register_flash(const std::string & query, int64_t max_tokens, int32_t id = 0);
    bool       delete_flash(int32_t id) { return flash_.remove(id); }
    int32_t    flash_count() const { return flash_.count(); }
    std::vector<flash_info>   list_flash() const { return flash_.list(); }
    // Counts a hit (generate_cached).
    std::optional<flash_info> cached_answer(const std::string & prompt);
    // Checks and tokenizes a generate prompt (throws context_full_error).
    std::vector<token_id> prepare_generate(const std::string & prompt) const;
    void       track_request(int64_t request_id); // counts it (generate_requests)
    bool       cancel(int64_t request_id) { return requests_.cancel(request_id); }
    int64_t    data_version() const { return data_version_.load(std::memory_order_acquire); }
    // Records accepted and not yet decoded or skipped, wherever they are.
    int64_t    backlog() const { return queue_.backlog(); }
    session_state state() const;
    // Every latency stage, in STREAMINFER_LATENCY_STAGES order; never waits.
    std::vector<stage_latency> latencies() const { return latencies_.snapshot(); }
    field_map     stats() const;
    std::vector<record> window_records() const; // oldest first; never waits on the decode thread
    // How open() restored the session: false when there was nothing to
    // restore, or the KV state did not load and the entries were decoded.
    bool          restored_from_kv() const { return restored_from_kv_.load(std::memory_order_acquire); }
    std::string   context_text() const;

private:
    int32_t token_limit() const;           // decode thread
    bool    decode_tokens(const std::vector<token_id> & tokens, int32_t pos); // decode thread
    void    publish_positions();           // decode thread, view_mu_ held
    // Decode thread, view_mu_ held: kv_window::make_room, counted and timed.
    eviction make_room(int32_t n_records, int32_t n_tokens, int32_t limit);
    // Decode thread, after the window changed: new data version, stale flash
    // answers, and the data_updated event.
    void    publish_data_update();
    void    open_restored();               // decode thread, from open()

    const model &           model_;
    const prompt_template & template_;
    event_queue &           events_;
    const session_config    cfg_;
    tokenized_text          prefix_;              // set in the constructor, then constant

    live_counters   counters_;
    live_latencies  latencies_;
    record_queue    queue_;

    llama_context * ctx_ = nullptr;               // decode thread only
    int32_t         n_ctx_ = 0;                   // set in the constructor, then constant
    int32_t         window_size_ = 0;             // set in the constructor, then constant
    int32_t         per_record_tokens_ = 0;       // a typical record's tokens; set in the constructor, then constant
    // Decode thread only: acceptance (steady_us) of the oldest record decoded
    // since the last flash run took the records, while the session has flash
    // queries (the fresh_answer stage); max: none.
    int64_t         oldest_unanswered_us_ = std::numeric_limits<int64_t>::max();
    // Decode thread only: the seq after the last record taken off the queue.
    int64_t         next_seq_ = 0;
    // Set by the constructor, taken by open() (decode thread).
    std::optional<session_checkpoint> restore_;
    std::atomic<bool> restored_from_kv_{false};

    mutable std::mutex view_mu_;                  // guards window_ and the figures below it
    kv_window          window_;                   // written by the decode thread under view_mu_
    int32_t            kv_pos_min_ = -1;          // as llama's memory reports them
    int32_t            kv_pos_max_ = -1;
    int64_t            last_inject_us_ = 0;       // Unix us of the last decoded batch

    flash_registry  flash_;
    request_tracker requests_;

    std::atomic<bool>    closed_{false};
    std::atomic<bool>    error_{false};
    std::atomic<int64_t> data_version_{0};
};

} // namespace streaminfer
