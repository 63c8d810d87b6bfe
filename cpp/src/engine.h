// The engine: one model shared by every session, one decode thread, one
// tokenization worker, and the event queue to Python.
//
// Thread rules: every public method may be called from any thread, but
// push() is the producer side of a session's ring, so one thread (the
// event loop) must be the only one pushing. Methods that wait for the
// decode thread (create, destroy, append, mark_prefix) block the caller;
// the bindings release the GIL around them.
#pragma once

#include "core-limits.h"
#include "decode-scheduler.h"
#include "event-queue.h"
#include "model.h"
#include "prompt-template.h"
#include "session.h"
#include "tokenize-worker.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace streaminfer {

struct engine_params {
    std::string model_path;
    int32_t     n_ctx = 2048;          // default context per session
    int32_t     n_threads = 0;         // 0: all cores
    int32_t     n_batch = 512;
    int32_t     n_gpu_layers = 0;
    int32_t     queue_capacity = 4096; // records per session ring
    int32_t     worker_nice = 10;      // nice increment of the decode and tokenization threads (thread-priority.h)
    bool        repack = true;                          // model_params::repack
    flash_attn_mode flash_attn = FLASH_ATTN_MODE_AUTO;  // every session's context
    bool        offload_kv = true;                      // session_config::offload_kv
};

// Throws param_error ("stop") past MAX_STOP_STRINGS, or for a string that
// is empty or longer than MAX_STOP_LENGTH bytes.
void check_stop_strings(const std::vector<std::string> & stop);

class engine {
public:
    explicit engine(const engine_params & params);
    ~engine();
    engine(const engine &) = delete;
    engine & operator=(const engine &) = delete;

    const model &         get_model() const { return *model_; }
    const engine_params & params() const { return params_; }
    event_queue &         events() { return events_; }

    // Decodes the prefix on the decode thread and waits for it. An id in use,
    // or being created by another call, is refused (std::invalid_argument).
    // `restore`: a checkpoint (session::run_checkpoint) to bring back instead
    // of an empty window; its flash queries are answered at once.
    std::shared_ptr<session> create_session(session_config cfg,
                                            std::optional<session_checkpoint> restore = std::nullopt);
    bool                     destroy_session(const std::string & id);
    std::shared_ptr<session> find(const std::string & id) const;
    std::vector<std::shared_ptr<session>> sessions() const;

    push_result push(session & s, std::vector<record> && records, const accept_hook & before_accept = {});
    flash_info  register_flash(const std::shared_ptr<session> & s, const std::string & query, int64_t max_tokens);
    // max_tokens is clamped to [1, the session's context size]; `stop` is
    // checked (check_stop_strings). After close(): engine_closed_error.
    int64_t     generate(const std::shared_ptr<session> & s, const std::string & prompt, int64_t max_tokens,
                         std::vector<std::string> stop);
    append_result append_text(const std::shared_ptr<session> & s, const std::string & text);
    prefix_mark   mark_prefix(const std::shared_ptr<session> & s);
    session_checkpoint checkpoint(const std::shared_ptr<session> & s, bool with_kv);
    answer_job  probe(const std::shared_ptr<session> & s, const std::string & prompt, int32_t max_tokens);

    void close();
    bool closed() const { return closed_.load(std::memory_order_acquire); }

private:
    template <typename R>
    R on_decode_thread(std::function<R()> fn);

    const engine_params              params_;
    std::unique_ptr<model>           model_;
    std::unique_ptr<prompt_template> template_;
    event_queue                      events_;

    mutable std::mutex                               mu_;
    std::map<std::string, std::shared_ptr<session>>  sessions_; // guarded by mu_
    std::set<std::string>                            reserved_ids_; // being created; guarded by mu_

    std::atomic<int64_t> next_request_id_{1};
    std::atomic<bool>    closed_{false};

    // Threads last: they start when constructed and may touch the above.
    std::unique_ptr<decode_scheduler> scheduler_;
    std::unique_ptr<tokenize_worker>  tokenizer_;
};

} // namespace streaminfer
