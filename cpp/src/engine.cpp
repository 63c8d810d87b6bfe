#include "engine.h"

#include "clock.h"

#include <algorithm>
#include <future>
#include <stdexcept>

namespace streaminfer {

void check_stop_strings(const std::vector<std::string> & stop) {
    if (stop.size() > static_cast<size_t>(MAX_STOP_STRINGS)) {
        throw param_error("at most " + std::to_string(MAX_STOP_STRINGS) + " stop strings, got " +
                              std::to_string(stop.size()),
                          "stop");
    }
    for (const std::string & s : stop) {
        if (s.empty() || s.size() > static_cast<size_t>(MAX_STOP_LENGTH)) {
            throw param_error("each stop string must be 1 to " + std::to_string(MAX_STOP_LENGTH) + " bytes, got " +
                                  std::to_string(s.size()),
                              "stop");
        }
    }
}

engine::engine(const engine_params & params) : params_(params) {
    if (params.n_batch < 32) {
        throw std::invalid_argument("n_batch must be at least 32");
    }
    if (params.queue_capacity < 1) {
        throw std::invalid_argument("queue_capacity must be at least 1");
    }
    if (params.n_ctx < MIN_CONTEXT_SIZE) {
        throw std::invalid_argument("the context size must be at least " + std::to_string(MIN_CONTEXT_SIZE) +
                                    " tokens (got " + std::to_string(params.n_ctx) + ")");
    }
    if (params.worker_nice < 0 || params.worker_nice > 19) {
        throw std::invalid_argument("worker_nice must be in [0, 19]");
    }
    model_params mp;
    mp.n_threads    = params.n_threads;
    mp.n_gpu_layers = params.n_gpu_layers;
    mp.repack       = params.repack;
    model_    = std::make_unique<model>(params.model_path, mp);
    template_ = std::make_unique<prompt_template>(*model_);
    scheduler_ = std::make_unique<decode_scheduler>(params.worker_nice);
    tokenizer_ = std::make_unique<tokenize_worker>(
        [this] { return sessions(); },
        [this](const std::shared_ptr<session> & s) { scheduler_->notify_stream(s); }, params.worker_nice);
}

engine::~engine() { close(); }

void engine::close() {
    std::map<std::string, std::shared_ptr<session>> gone;
    {
        // Under mu_ with the swap, so a create_session that finishes its
        // open after this never registers its session (it sees closed()).
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_.exchange(true)) {
            return;
        }
        gone.swap(sessions_);
    }
    // Closed first: a flash run or a generation in progress stops at its
    // next step, so stopping the scheduler waits for one step, not a run.
    for (auto & [id, s] : gone) {
        s->begin_close();
    }
    tokenizer_->stop();
    scheduler_->stop(); // queued generates end with generate_error (their on_drop)
    for (auto & [id, s] : gone) {
        s->release(); // the decode thread has stopped: safe here
    }
}

template <typename R>
R engine::on_decode_thread(std::function<R()> fn) {
    if (closed()) {
        throw engine_closed_error("the engine is closed");
    }
    std::future<R> result = scheduler_->call<R>(std::move(fn));
    try {
        return result.get();
    } catch (const std::future_error &) {
        throw engine_closed_error("the engine closed before the request ran");
    }
}

std::shared_ptr<session> engine::create_session(session_config cfg, std::optional<session_checkpoint> restore) {
    if (closed()) {
        throw engine_closed_error("the engine is closed");
    }
    if (cfg.n_ctx == 0) {
        cfg.n_ctx = params_.n_ctx;
    }
    cfg.n_batch        = params_.n_batch;
    cfg.n_threads      = model_->n_threads();
    cfg.flash_attn     = params_.flash_attn;
    cfg.offload_kv     = params_.offload_kv;
    if (cfg.queue_capacity <= 0) {
        cfg.queue_capacity = params_.queue_capacity;
    }
    // The id is reserved before anything is built, so of two creates with
    // one id the second is refused here, and builds nothing.
    const std::string id = cfg.id;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (sessions_.count(id) != 0 || !reserved_ids_.insert(id).second) {
            throw std::invalid_argument("session id already in use: " + id);
        }
    }
    struct reservation { // released on every way out
        engine & eng;
        const std::string & id;
        ~reservation() {
            std::lock_guard<std::mutex> lock(eng.mu_);
            eng.reserved_ids_.erase(id);
        }
    } held{*this, id};
    auto s = std::make_shared<session>(*model_, *template_, events_, std::move(cfg), std::move(restore));
    // The context is made and, on failure, freed on the decode thread.
    on_decode_thread<bool>([s] {
        s->open();
        return true;
    });
    bool added = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!closed()) {
            sessions_.emplace(id, s);
            added = true;
        }
    }
    if (added) {
        if (s->flash_stale()) { // a restore: its answers are recomputed now
            scheduler_->notify_flash(s);
        }
        return s;
    }
    // close() ran meanwhile and has stopped, or is stopping, the decode
    // thread, which never sees this session again: safe to free here.
    s->release();
    throw engine_closed_error("the engine closed while the session was being created");
}

bool engine::destroy_session(const std::string & id) {
    std::shared_ptr<session> s;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sessions_.find(id);
        if (it == sessions_.end()) {
            return false;
        }
        s = it->second;
        sessions_.erase(it);
    }
    s->begin_close(); // a generation or flash run in progress stops at its next step
    // The context is freed on the decode thread, between two of its tasks.
    on_decode_thread<bool>([s] {
        s->release();
        return true;
    });
    return true;
}

std::shared_ptr<session> engine::find(const std::string & id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<session>> engine::sessions() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<session>> out;
    out.reserve(sessions_.size());
    for (const auto & [id, s] : sessions_) {
        out.push_back(s);
    }
    return out;
}

push_result engine::push(session & s, std::vector<record> && records, const accept_hook & before_accept) {
    push_result r = s.push(std::move(records), before_accept);
    if (r.pushed > 0) {
        tokenizer_->notify();
    }
    return r;
}

flash_info engine::register_flash(const std::shared_ptr<session> & s, const std::string & query, int64_t max_tokens) {
    flash_info out = s->register_flash(query, max_tokens);
    if (s->flash_stale()) {
        scheduler_->notify_flash(s);
    }
    return out;
}

int64_t engine::generate(const std::shared_ptr<session> & s, const std::string & prompt, int64_t max_tokens,
                         std::vector<std::string> stop) {
    const int64_t accepted_us = steady_us(); // generate_first_token and generate_total start here
    if (closed()) {
        throw engine_closed_error("the engine is closed");
    }
    check_stop_strings(stop);
    std::vector<token_id> tokens = s->prepare_generate(prompt);
    const auto    n_max = static_cast<int32_t>(std::clamp<int64_t>(max_tokens, 1, s->n_ctx()));
    const int64_t id    = next_request_id_.fetch_add(1);
    s->track_request(id);
    const bool taken = scheduler_->post(
        decode_scheduler::TASK_KIND_GENERATE,
        [s, id, accepted_us, tokens = std::move(tokens), n_max, stop = std::move(stop)]() mutable {
            try {
                s->run_generate(id, accepted_us, std::move(tokens), n_max, std::move(stop));
            } catch (const std::exception & e) {
                // The waiter is on the Python side: it must hear of the failure.
                s->end_generate(id, GENERATE_END_FAILED, e.what());
            }
        },
        [s, id] { s->end_generate(id, GENERATE_END_CANCELLED, "the engine closed before the request ran"); });
    if (!taken) {
        s->end_generate(id, GENERATE_END_CANCELLED, "the engine is closed");
        throw engine_closed_error("the engine is closed");
    }
    return id;
}

append_result engine::append_text(const std::shared_ptr<session> & s, const std::string & text) {
    append_result out = on_decode_thread<append_result>([s, text] { return s->run_append(text); });
    if (s->flash_stale()) {
        scheduler_->notify_flash(s);
    }
    return out;
}

prefix_mark engine::mark_prefix(const std::shared_ptr<session> & s) {
    return on_decode_thread<prefix_mark>([s] { return s->run_mark_prefix(); });
}

session_checkpoint engine::checkpoint(const std::shared_ptr<session> & s, bool with_kv) {
    return on_decode_thread<session_checkpoint>([s, with_kv] { return s->run_checkpoint(with_kv); });
}

answer_job engine::probe(const std::shared_ptr<session> & s, const std::string & prompt, int32_t max_tokens) {
    return on_decode_thread<answer_job>([s, prompt, max_tokens] { return s->run_probe(prompt, max_tokens); });
}

} // namespace streaminfer
