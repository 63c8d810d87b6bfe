// One live session: its ring of incoming records, its llama_context (KV
// cache) with the live sequence, its flash queries and its figures.
//
// Threads and ownership:
//   producer (the Python event loop)  push(): ring producer side only
//   tokenization worker               drain_ring(): ring consumer side
//   decode thread                     everything that touches ctx_ / window_
//                                     (the run_* methods), and the writes of
//                                     what readers see, under view_mu_
//   any thread                        the const snapshots (state(), ...) and
//                                     the flash registry, under their locks
#pragma once

#include "event-queue.h"
#include "flash-query.h"
#include "kv-window.h"
#include "model.h"
#include "prompt-template.h"
#include "record-format.h"
#include "streaminfer/spsc-ring.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct llama_context;

namespace streaminfer {

// Tokens kept free for a generate request's prompt and answer (when the
// flash queries reserve less than this).
constexpr int32_t GENERATE_RESERVE = 192;

class limit_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
class duplicate_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
class context_full_error : public std::runtime_error {
public:
    context_full_error(const std::string & what, int32_t tokens, int32_t available)
        : std::runtime_error(what), n_tokens(tokens), n_available(available) {}
    int32_t n_tokens;
    int32_t n_available;
};
class closed_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

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
    std::vector<std::pair<std::string, int32_t>> flash; // registered at creation
};

struct push_result {
    int32_t  pushed = 0;
    int32_t  dropped = 0;
    int64_t  queue_size = 0;
    int64_t  queue_capacity = 0;
    int64_t  total_enqueued = 0;
    int64_t  total_dropped = 0;
};

// A record after the tokenization worker: its line and tokens.
struct tokenized_record {
    record                rec;
    std::string           text;
    std::vector<token_id> tokens;
};

using field_map = std::vector<std::pair<std::string, event_value>>;

class session {
public:
    session(const model & mdl, const prompt_template & tmpl, event_queue & events, session_config cfg);
    ~session();
    session(const session &) = delete;
    session & operator=(const session &) = delete;

    const std::string & id() const { return cfg_.id; }
    record_type         type() const { return cfg_.type; }
    int64_t             created_at_ms() const { return created_at_ms_; }

    // ---- producer (event loop thread) ----
    // Records must already be validated. Never blocks; a full ring drops.
    push_result push(std::vector<record> && records);

    // ---- tokenization worker ----
    // Formats and tokenizes what the ring holds; returns how many it moved.
    size_t drain_ring();

    // ---- decode thread ----
    void    open();                        // context + prefix (once per lifetime)
    bool    has_stream_work() const;
    void    run_stream_batch();            // one batch of pending records
    bool    flash_dirty() const { return flash_dirty_.load(std::memory_order_acquire); }
    void    run_flash();                   // answer every flash query
    void    run_generate(int64_t request_id, std::vector<token_id> prompt, int32_t max_tokens,
                         std::vector<std::string> stop);
    // Answers synchronously (diagnostics: equivalence test, benchmarks).
    answer_job run_probe(const std::string & prompt, int32_t max_tokens);
    field_map run_append(const std::string & text);
    field_map run_mark_prefix();
    void    release();                     // free the KV memory; the session is closed after

    // Scheduler bookkeeping: set by whoever queues the session, cleared by
    // the decode thread when it takes it (keeps each queue free of repeats).
    std::atomic<bool> queued_stream{false};
    std::atomic<bool> queued_flash{false};

    // ---- any thread ----
    bool      closed() const { return closed_.load(std::memory_order_acquire); }
    void      check_open() const;
    field_map register_flash(const std::string & query, int32_t max_tokens);
    bool      delete_flash(int32_t id);
    std::vector<field_map> list_flash() const;
    std::optional<field_map> cached_answer(const std::string & prompt) const;
    // Validates and tokenizes a generate prompt (throws context_full_error).
    std::vector<token_id> prepare_generate(const std::string & prompt) const;
    int32_t   flash_count() const;
    int64_t   data_version() const { return data_version_.load(std::memory_order_acquire); }
    // Records accepted and not yet decoded or skipped, wherever they are.
    int64_t   backlog() const;
    field_map state() const;
    field_map stats() const;
    std::string context_text() const;
    std::vector<field_map> slots() const;
    int32_t   window_size() const { return window_size_; }
    int32_t   n_ctx() const { return n_ctx_; }
    int32_t   n_prefix_tokens() const;
    void      touch();
    // Marks the session closed at once (before release() runs on the decode
    // thread), so a generation in progress stops at its next step.
    void      begin_close() { closed_.store(true, std::memory_order_release); }
    // Generate requests: registered when queued, dropped when finished.
    void      track_request(int64_t request_id);
    bool      cancel(int64_t request_id);     // false when not queued or running

private:
    int32_t flash_reserve_locked() const;  // flash_mu_ held
    int32_t token_limit() const;           // decode thread
    bool    decode_tokens(const std::vector<token_id> & tokens, int32_t pos); // decode thread
    void    publish_positions();           // decode thread

    const model &           model_;
    const prompt_template & template_;
    event_queue &           events_;
    const session_config    cfg_;
    const int64_t           created_at_ms_;
    tokenized_text          prefix_;              // set in the constructor, then constant

    spsc_ring<record> ring_; // producer: event loop; consumer: tokenization worker

    mutable std::mutex           pending_mu_;
    std::deque<tokenized_record> pending_;        // guarded by pending_mu_

    llama_context * ctx_ = nullptr;               // decode thread only
    int32_t         n_ctx_ = 0;                   // set in the constructor, then constant
    int32_t         window_size_ = 0;             // set in the constructor, then constant

    mutable std::mutex view_mu_;                  // guards window_ and the figures below it
    kv_window          window_;                   // written by the decode thread under view_mu_
    int32_t            kv_pos_min_ = -1;          // as llama's memory reports them
    int32_t            kv_pos_max_ = -1;
    int64_t            last_inject_us_ = 0;       // Unix us of the last decoded batch
    int64_t            last_used_ms_ = 0;

    mutable std::mutex       flash_mu_;
    std::vector<flash_query> flash_;              // guarded by flash_mu_
    int32_t                  next_flash_id_ = 1;  // guarded by flash_mu_
    std::atomic<bool>        flash_dirty_{false};

    mutable std::mutex        requests_mu_;
    std::map<int64_t, bool>   requests_;      // request id -> cancelled; guarded by requests_mu_
    bool request_cancelled(int64_t request_id) const;
    void finish_request(int64_t request_id);

    std::atomic<bool>    closed_{false};
    std::atomic<bool>    error_{false};
    std::atomic<int64_t> data_version_{0};
    // Counters: written by one thread each (noted), read by any.
    std::atomic<int64_t> total_enqueued_{0};      // producer
    std::atomic<int64_t> total_dropped_{0};       // producer
    std::atomic<int64_t> tokenized_{0};           // tokenization worker
    std::atomic<int64_t> skipped_{0};             // tokenization worker and decode thread
    std::atomic<int64_t> items_processed_{0};     // decode thread
    std::atomic<int64_t> batches_processed_{0};   // decode thread
    std::atomic<int64_t> total_process_time_us_{0};
    std::atomic<int64_t> total_data_tokens_{0};   // decode thread: record tokens ever decoded
    std::atomic<int64_t> tokens_decoded_{0};      // decode thread: every token llama_decode saw
    std::atomic<int64_t> prefix_evals_{0};
    std::atomic<int64_t> evicted_records_{0};
    std::atomic<int64_t> flash_runs_{0};
    std::atomic<int64_t> total_flash_time_us_{0};
    std::atomic<int64_t> last_flash_time_us_{0};
};

int64_t unix_ms();
int64_t unix_us();

} // namespace streaminfer
