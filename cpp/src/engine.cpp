#include "engine.h"

#include "clock.h"

#include <algorithm>
#include <future>
#include <stdexcept>

namespace streaminfer {

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
    if (closed_.exchange(true)) {
        return;
    }
    tokenizer_->stop();
    scheduler_->stop();
    std::map<std::string, std::shared_ptr<session>> gone;
    {
        std::lock_guard<std::mutex> lock(mu_);
        gone.swap(sessions_);
    }
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

std::shared_ptr<session> engine::create_session(session_config cfg) {
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
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (sessions_.count(cfg.id) != 0) {
            throw std::invalid_argument("session id already in use: " + cfg.id);
        }
    }
    auto s = std::make_shared<session>(*model_, *template_, events_, std::move(cfg));
    on_decode_thread<bool>([s] {
        s->open();
        return true;
    });
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.emplace(s->id(), s);
    return s;
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

push_result engine::push(session & s, std::vector<record> && records) {
    push_result r = s.push(std::move(records));
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
    std::vector<token_id> tokens = s->prepare_generate(prompt);
    const auto    n_max = static_cast<int32_t>(std::clamp<int64_t>(max_tokens, 1, s->n_ctx()));
    const int64_t id    = next_request_id_.fetch_add(1);
    s->track_request(id);
    scheduler_->post([s, id, accepted_us, tokens = std::move(tokens), n_max, stop = std::move(stop)]() mutable {
        try {
            s->run_generate(id, accepted_us, std::move(tokens), n_max, std::move(stop));
        } catch (const std::exception & e) {
            // The waiter is on the Python side: it must hear of the failure.
            s->end_generate(id, GENERATE_END_FAILED, e.what());
        }
    });
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

answer_job engine::probe(const std::shared_ptr<session> & s, const std::string & prompt, int32_t max_tokens) {
    return on_decode_thread<answer_job>([s, prompt, max_tokens] { return s->run_probe(prompt, max_tokens); });
}

} // namespace streaminfer
