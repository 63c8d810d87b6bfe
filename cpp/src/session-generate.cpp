// Generate requests and probes: one question answered on a copy of the
// live sequence (batch-decoder.h), its tokens streamed as events.
#include "session.h"

#include "clock.h"

#include <algorithm>
#include <stdexcept>

namespace streaminfer {

std::vector<token_id> session::prepare_generate(const std::string & prompt) const {
    check_open();
    std::vector<token_id> tokens = template_.question(prompt).tokens;
    int32_t free_tokens = 0;
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        free_tokens = n_ctx_ - window_.pos_next() - 1;
    }
    if (static_cast<int32_t>(tokens.size()) > free_tokens) {
        throw context_full_error("prompt of " + std::to_string(tokens.size()) + " tokens does not fit: " +
                                     std::to_string(free_tokens) + " tokens of the " + std::to_string(n_ctx_) +
                                     "-token context are free",
                                 static_cast<int32_t>(tokens.size()), free_tokens);
    }
    return tokens;
}

void session::end_generate(int64_t request_id, generate_end how, const std::string & message) {
    // The request is forgotten before its last event goes out: whoever hears
    // that event finds nothing left to cancel.
    requests_.finish(request_id);
    (how == GENERATE_END_CANCELLED ? counters_.generate_cancelled : counters_.generate_failed)
        .fetch_add(1, std::memory_order_relaxed);
    events_.push(event("generate_error", cfg_.id).set("request_id", request_id).set("message", message).ends_request());
}

void session::run_generate(int64_t request_id, int64_t accepted_us, std::vector<token_id> prompt,
                           int32_t max_tokens, std::vector<std::string> stop) {
    struct finish_guard { // also when an exception leaves
        session & s;
        int64_t   id;
        ~finish_guard() { s.requests_.finish(id); }
    } guard{*this, request_id};
    auto fail = [&](const std::string & message) { end_generate(request_id, GENERATE_END_FAILED, message); };
    auto cancelled = [&](const std::string & message) {
        end_generate(request_id, GENERATE_END_CANCELLED, message);
    };
    if (closed() || ctx_ == nullptr) {
        cancelled("session " + cfg_.id + " is closed");
        return;
    }
    if (requests_.cancelled(request_id)) {
        cancelled("cancelled");
        return;
    }
    const int32_t pos  = window_.pos_next();
    const int32_t room = n_ctx_ - pos - static_cast<int32_t>(prompt.size());
    if (room < 1) {
        fail("the prompt of " + std::to_string(prompt.size()) + " tokens no longer fits: " +
             std::to_string(n_ctx_ - pos) + " tokens of the context are free");
        return;
    }
    std::vector<answer_job> jobs(1);
    answer_job & job     = jobs[0];
    job.seq_id           = SEQ_GENERATE;
    job.prompt           = std::move(prompt);
    job.max_tokens       = std::min(max_tokens, room);
    job.stop_at_newline  = false;
    job.stop             = std::move(stop);
    bool streamed = false;
    const bool ok = decode_answers(ctx_, model_, pos, cfg_.n_batch, jobs,
                                   [&](const answer_job &, const std::string & piece, int32_t p) {
                                       events_.push(event("token", cfg_.id)
                                                        .set("request_id", request_id)
                                                        .set("token", piece)
                                                        .set("pos", static_cast<int64_t>(p)));
                                       if (!streamed) {
                                           streamed = true;
                                           latencies_.generate_first_token.observe(steady_us() - accepted_us);
                                       }
                                   },
                                   [&] { return closed() || requests_.cancelled(request_id); });
    counters_.tokens_decoded.fetch_add(static_cast<int64_t>(job.prompt.size()) + std::max(0, job.n_steps - 1),
                              std::memory_order_relaxed);
    if (!ok) {
        fail("llama_decode failed while generating");
        return;
    }
    if (closed() || requests_.cancelled(request_id)) {
        cancelled(closed() ? "session " + cfg_.id + " was closed during the generation" : "cancelled");
        return;
    }
    requests_.finish(request_id);
    counters_.generate_completed.fetch_add(1, std::memory_order_relaxed);
    latencies_.generate_total.observe(steady_us() - accepted_us);
    events_.push(event("generate_done", cfg_.id)
                     .set("request_id", request_id)
                     .set("text", job.text)
                     .set("n_tokens", static_cast<int64_t>(job.n_generated))
                     .set("prompt_tokens", static_cast<int64_t>(job.prompt.size()))
                     .set("finish_reason", std::string(job.n_generated >= job.max_tokens ? "length" : "stop"))
                     .set("confidence", job.confidence())
                     .set("logit_gap", static_cast<double>(job.first_logit_gap))
                     .set("data_version", data_version())
                     .set("pos_next", static_cast<int64_t>(pos))
                     .ends_request());
}

answer_job session::run_probe(const std::string & prompt, int32_t max_tokens) {
    std::vector<answer_job> jobs(1);
    answer_job & job       = jobs[0];
    job.prompt             = prepare_generate(prompt);
    job.max_tokens         = std::max(1, std::min(max_tokens, n_ctx_ - window_.pos_next() - static_cast<int32_t>(job.prompt.size())));
    job.stop_at_newline    = true;
    job.keep_first_logits  = true;
    if (!decode_answers(ctx_, model_, window_.pos_next(), cfg_.n_batch, jobs, nullptr)) {
        throw std::runtime_error("llama_decode failed while probing");
    }
    return std::move(jobs[0]);
}

} // namespace streaminfer
