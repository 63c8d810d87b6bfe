#include "session.h"

#include "clock.h"
#include "window-stats.h"

#include "llama.h"

#include <algorithm>
#include <stdexcept>

namespace streaminfer {

session::session(const model & mdl, const prompt_template & tmpl, event_queue & events, session_config cfg,
                 std::optional<session_checkpoint> restore)
    : model_(mdl), template_(tmpl), events_(events), cfg_(std::move(cfg)),
      queue_(static_cast<size_t>(std::max(1, cfg_.queue_capacity)), counters_, latencies_),
      restore_(std::move(restore)), window_(0, 0) {
    if (cfg_.n_ctx < MIN_CONTEXT_SIZE) {
        throw param_error("context_size must be at least " + std::to_string(MIN_CONTEXT_SIZE) + " tokens (got " +
                              std::to_string(cfg_.n_ctx) + ")",
                          "context_size");
    }
    if (cfg_.n_ctx > model_.n_ctx_train()) {
        throw param_error("context_size " + std::to_string(cfg_.n_ctx) + " exceeds the model's training context (" +
                              std::to_string(model_.n_ctx_train()) + ")",
                          "context_size");
    }
    if (cfg_.window_size < 0 || cfg_.window_size > MAX_WINDOW_RECORDS) {
        throw param_error("window_size must be in [1, " + std::to_string(MAX_WINDOW_RECORDS) +
                              "] (or 0 / absent for automatic)",
                          "window_size");
    }
    if (cfg_.flash.size() > static_cast<size_t>(MAX_FLASH_QUERIES)) {
        throw limit_error("at most " + std::to_string(MAX_FLASH_QUERIES) + " flash queries per session, got " +
                              std::to_string(cfg_.flash.size()),
                          "flash");
    }
    n_ctx_  = cfg_.n_ctx;
    prefix_ = template_.prefix(cfg_.system_prompt, record_header(cfg_.type));
    for (size_t i = 0; i < cfg_.flash.size(); ++i) {
        try {
            register_flash(cfg_.flash[i].first, cfg_.flash[i].second);
        } catch (param_error & e) {
            e.index = static_cast<int32_t>(i);
            throw;
        }
    }
    if (restore_) {
        for (const flash_info & q : restore_->flash) {
            register_flash(q.query, q.max_tokens, q.id);
        }
        flash_.set_next_id(restore_->next_flash_id);
    }
    const int32_t reserve    = flash_.reserve();
    const int32_t per_record = static_cast<int32_t>(
        model_.tokenize(format_record(sample_record(cfg_.type)), false, false).size()) + 2;
    const int32_t n_prefix = static_cast<int32_t>(prefix_.tokens.size());
    const int32_t room     = n_ctx_ - n_prefix - reserve;
    if (room < per_record) {
        throw context_full_error(
            "the prompt does not fit: the prefix takes " + std::to_string(n_prefix) + " tokens and the answer reserve " +
                std::to_string(reserve) + " of a " + std::to_string(n_ctx_) + "-token context, leaving no room for data",
            n_prefix + reserve, n_ctx_);
    }
    const int32_t fits = room / per_record;
    if (cfg_.window_size > fits) {
        throw param_error("window_size " + std::to_string(cfg_.window_size) + " does not fit: a " +
                              std::to_string(n_ctx_) + "-token context holds about " + std::to_string(fits) + " " +
                              record_type_name(cfg_.type) + " records (~" + std::to_string(per_record) +
                              " tokens each) after the prefix and the answer reserve",
                          "window_size");
    }
    per_record_tokens_ = per_record;
    window_size_ = cfg_.window_size > 0 ? cfg_.window_size : std::min(fits, MAX_WINDOW_RECORDS);
    window_      = kv_window(n_ctx_, window_size_);
    queue_.set_window(window_size_);
}

session::~session() {
    release();
}

void session::check_open() const {
    if (closed()) {
        throw session_closed_error("session " + cfg_.id + " is closed");
    }
}

push_result session::push(std::vector<record> && records, const accept_hook & before_accept) {
    // The producer's only two clock reads: the entry time is also every
    // record's acceptance time (record_wait, fresh_answer).
    const int64_t t0 = steady_us();
    check_open();
    push_result r = queue_.push(std::move(records), t0, before_accept);
    latencies_.push.observe(steady_us() - t0);
    return r;
}

size_t session::drain_ring() {
    const drain_result r = queue_.drain([this](const std::string & text) { return model_.tokenize(text, false, false); });
    if (r.failed > 0) {
        events_.push(event("error", cfg_.id)
                         .set("message", "tokenization failed for " + std::to_string(r.failed) +
                                             " records (counted as skipped): " + r.error));
    }
    return r.moved;
}

// ---- decode thread ----

bool session::decode_tokens(const std::vector<token_id> & tokens, int32_t pos) {
    std::vector<batch_token> items(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        items[i] = {tokens[i], pos + static_cast<int32_t>(i), SEQ_LIVE, -1};
    }
    if (!decode_chunked(ctx_, items, cfg_.n_batch, nullptr)) {
        // Leave the live sequence exactly as the window describes it.
        llama_memory_seq_rm(llama_get_memory(ctx_), SEQ_LIVE, pos, -1);
        error_.store(true, std::memory_order_release);
        return false;
    }
    counters_.tokens_decoded.fetch_add(static_cast<int64_t>(tokens.size()), std::memory_order_relaxed);
    return true;
}

eviction session::make_room(int32_t n_records, int32_t n_tokens, int32_t limit) {
    const int64_t  t0 = steady_us();
    const eviction ev = window_.make_room(ctx_, n_records, n_tokens, limit);
    if (ev.n_entries > 0) {
        latencies_.kv_shift.observe(steady_us() - t0);
    }
    counters_.evicted.fetch_add(ev.n_records, std::memory_order_relaxed);
    publish_positions(); // readers must not see the pre-eviction pos_max while the next decode runs
    return ev;
}

void session::publish_positions() {
    llama_memory_t mem = llama_get_memory(ctx_);
    kv_pos_min_ = llama_memory_seq_pos_min(mem, SEQ_LIVE);
    kv_pos_max_ = llama_memory_seq_pos_max(mem, SEQ_LIVE);
}

static_assert(FLASH_ATTN_MODE_AUTO == static_cast<int32_t>(LLAMA_FLASH_ATTN_TYPE_AUTO) &&
                  FLASH_ATTN_MODE_OFF == static_cast<int32_t>(LLAMA_FLASH_ATTN_TYPE_DISABLED) &&
                  FLASH_ATTN_MODE_ON == static_cast<int32_t>(LLAMA_FLASH_ATTN_TYPE_ENABLED),
              "flash_attn_mode is cast to llama_flash_attn_type");

void session::open() {
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx           = static_cast<uint32_t>(n_ctx_);
    cparams.n_batch         = static_cast<uint32_t>(cfg_.n_batch);
    cparams.n_ubatch        = static_cast<uint32_t>(cfg_.n_batch);
    cparams.n_seq_max       = N_SEQ_MAX;
    cparams.n_outputs_max   = N_SEQ_MAX; // at most one output row per sequence and decode
    cparams.n_threads       = cfg_.n_threads;
    cparams.n_threads_batch = cfg_.n_threads;
    cparams.kv_unified      = true;      // copies of the live sequence share its cells
    cparams.no_perf         = true;
    cparams.flash_attn_type = static_cast<llama_flash_attn_type>(cfg_.flash_attn);
    cparams.offload_kqv     = cfg_.offload_kv;
    ctx_ = llama_init_from_model(model_.raw(), cparams);
    if (ctx_ == nullptr) {
        throw context_alloc_error("llama.cpp could not create a context of " + std::to_string(n_ctx_) +
                                  " tokens (out of memory for its KV cache or compute buffers)");
    }
    if (!llama_memory_can_shift(llama_get_memory(ctx_))) {
        llama_free(ctx_);
        ctx_ = nullptr;
        throw std::invalid_argument("this model's KV cache cannot shift positions; sliding windows need it");
    }
    if (restore_) {
        open_restored();
        return;
    }
    if (!decode_tokens(prefix_.tokens, 0)) {
        llama_free(ctx_);
        ctx_ = nullptr;
        throw std::runtime_error("llama_decode failed on the session prefix");
    }
    counters_.prefix_evals.fetch_add(1, std::memory_order_relaxed);
    counters_.prefix_tokens.fetch_add(static_cast<int64_t>(prefix_.tokens.size()), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(view_mu_);
    window_.set_prefix(static_cast<int32_t>(prefix_.tokens.size()), prefix_.text);
    publish_positions();
}

bool session::has_stream_work() const {
    return queue_.has_pending();
}

int32_t session::token_limit() const {
    return n_ctx_ - flash_.reserve();
}

void session::run_stream_batch() {
    if (closed() || ctx_ == nullptr) {
        return;
    }
    const int64_t t0 = steady_us();
    int32_t n_tokens = 0;
    std::vector<tokenized_record> batch = queue_.take_batch(cfg_.n_batch, n_tokens);
    if (batch.empty()) {
        return;
    }
    next_seq_ = batch.back().seq + 1;
    const int32_t limit = token_limit();
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        make_room(static_cast<int32_t>(batch.size()), n_tokens, limit);
    }
    // A batch larger than the whole data budget (tiny contexts): its oldest
    // records cannot be kept either.
    size_t first = 0;
    while (first < batch.size() && window_.pos_next() + n_tokens > limit) {
        n_tokens -= static_cast<int32_t>(batch[first].tokens.size());
        ++first;
    }
    counters_.skipped.fetch_add(static_cast<int64_t>(first), std::memory_order_release);
    std::vector<token_id> tokens;
    tokens.reserve(static_cast<size_t>(n_tokens));
    for (size_t i = first; i < batch.size(); ++i) {
        tokens.insert(tokens.end(), batch[i].tokens.begin(), batch[i].tokens.end());
    }
    const int64_t t_decode = steady_us();
    if (!tokens.empty() && !decode_tokens(tokens, window_.pos_next())) {
        // Accounted for, not silently lost: the error event says why.
        counters_.skipped.fetch_add(static_cast<int64_t>(batch.size() - first), std::memory_order_release);
        events_.push(event("error", cfg_.id).set("message", std::string("llama_decode failed on a data batch")));
        return;
    }
    const int64_t decode_us = steady_us() - t_decode;
    int64_t oldest = std::numeric_limits<int64_t>::max();
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        for (size_t i = first; i < batch.size(); ++i) {
            oldest = std::min(oldest, batch[i].accepted_us);
            window_entry e;
            e.n_tokens  = static_cast<int32_t>(batch[i].tokens.size());
            e.is_record = true;
            e.rec       = std::move(batch[i].rec);
            e.text      = std::move(batch[i].text);
            window_.append(std::move(e));
        }
        last_inject_us_ = unix_us();
        publish_positions();
    }
    counters_.items_processed.fetch_add(static_cast<int64_t>(batch.size() - first), std::memory_order_release);
    error_.store(false, std::memory_order_release); // a good batch: the session decodes again
    counters_.total_data_tokens.fetch_add(n_tokens, std::memory_order_relaxed);
    counters_.batches_processed.fetch_add(1, std::memory_order_relaxed);
    latencies_.decode_batch.observe(decode_us);
    counters_.total_process_time_us.fetch_add(steady_us() - t0, std::memory_order_relaxed);
    publish_data_update();
    // Stale now means a flash run will answer on these records; not stale,
    // that the session has no flash query, and no answer waits for them.
    oldest_unanswered_us_ = flash_.stale() ? std::min(oldest_unanswered_us_, oldest)
                                           : std::numeric_limits<int64_t>::max();
}

void session::publish_data_update() {
    const int64_t version = data_version_.fetch_add(1, std::memory_order_acq_rel) + 1;
    flash_.mark_stale();
    // The decode thread is the window's only writer: it reads it unlocked.
    events_.push(event("data_updated", cfg_.id)
                     .set("data_version", version)
                     .set("data_count", static_cast<int64_t>(window_.data_count()))
                     .set("pos_next", static_cast<int64_t>(window_.pos_next())));
}

void session::run_flash() {
    if (closed() || ctx_ == nullptr) {
        return;
    }
    const int64_t t0 = steady_us();
    std::vector<int32_t>    ids;
    std::vector<answer_job> jobs = flash_.take_jobs(ids);
    if (jobs.empty()) {
        return;
    }
    const int64_t version = data_version();
    {
        // A query registered since the last batch may need more room than
        // the window leaves (register_flash checked that evicting is enough).
        // Not a data update: the answers about to run see the smaller window.
        std::lock_guard<std::mutex> lock(view_mu_);
        make_room(0, 0, token_limit());
    }
    answer_timing timing;
    const bool ok = decode_answers(ctx_, model_, window_.pos_next(), cfg_.n_batch, jobs, nullptr,
                                   [this] { return closed(); }, &timing);
    for (const answer_job & job : jobs) {
        counters_.tokens_decoded.fetch_add(static_cast<int64_t>(job.prompt.size()) + std::max(0, job.n_steps - 1),
                                           std::memory_order_relaxed);
    }
    if (!ok) {
        // oldest_unanswered_us_ stays: the next run answers on those records.
        error_.store(true, std::memory_order_release);
        events_.push(event("error", cfg_.id).set("message", std::string("llama_decode failed on flash queries")));
        return;
    }
    if (closed()) {
        return; // cut short: the answers are partial
    }
    error_.store(false, std::memory_order_release);
    const int64_t now = unix_ms();
    const std::vector<flash_info> changed = flash_.publish(ids, jobs, version, now);
    const int64_t elapsed = steady_us() - t0;
    counters_.flash_runs.fetch_add(1, std::memory_order_relaxed);
    counters_.total_flash_time_us.fetch_add(elapsed, std::memory_order_relaxed);
    counters_.last_flash_time_us.store(elapsed, std::memory_order_relaxed);
    latencies_.flash_prefill.observe(timing.prefill_us);
    latencies_.flash_answer.observe(timing.steps_us);
    for (const flash_info & q : changed) {
        events_.push(event("flash_ready", cfg_.id)
                         .set("id", static_cast<int64_t>(q.id))
                         .set("query", q.query)
                         .set("value", q.value)
                         .set("confidence", q.confidence)
                         .set("data_version", q.data_version)
                         .set("evaluated_at", q.evaluated_at));
    }
    if (oldest_unanswered_us_ != std::numeric_limits<int64_t>::max()) {
        latencies_.fresh_answer.observe(steady_us() - oldest_unanswered_us_);
        oldest_unanswered_us_ = std::numeric_limits<int64_t>::max();
    }
}

append_result session::run_append(const std::string & text) {
    check_open();
    std::vector<token_id> tokens = model_.tokenize(text, false, false);
    const int32_t limit = token_limit();
    const int32_t room  = limit - window_.prefix_end();
    if (static_cast<int32_t>(tokens.size()) > room) {
        throw context_full_error("text of " + std::to_string(tokens.size()) + " tokens does not fit: the data region holds " +
                                     std::to_string(room) + " tokens",
                                 static_cast<int32_t>(tokens.size()), room);
    }
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        make_room(0, static_cast<int32_t>(tokens.size()), limit);
    }
    if (!tokens.empty() && !decode_tokens(tokens, window_.pos_next())) {
        throw std::runtime_error("llama_decode failed on the appended text");
    }
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        window_entry e;
        e.n_tokens = static_cast<int32_t>(tokens.size());
        e.text     = text;
        window_.append(std::move(e));
        last_inject_us_ = unix_us();
        publish_positions();
    }
    publish_data_update();
    return {static_cast<int32_t>(tokens.size()), window_.pos_next()};
}

prefix_mark session::run_mark_prefix() {
    check_open();
    std::lock_guard<std::mutex> lock(view_mu_); // see register_flash
    const int32_t room = token_limit() - window_.pos_next(); // the data room once the window is frozen
    const int32_t need = MIN_WINDOW_RECORDS * per_record_tokens_;
    if (room < need) {
        throw context_full_error("mark_prefix would leave " + std::to_string(std::max(0, room)) +
                                     " tokens for data: a window of " + std::to_string(MIN_WINDOW_RECORDS) +
                                     " records needs about " + std::to_string(need) + " (the context holds " +
                                     std::to_string(n_ctx_) + ", the prefix would take " +
                                     std::to_string(window_.pos_next()) + " and the answers reserve " +
                                     std::to_string(flash_.reserve()) + ")",
                                 need, std::max(0, room));
    }
    const int32_t frozen = window_.freeze();
    return {window_.prefix_end(), frozen};
}

void session::release() {
    closed_.store(true, std::memory_order_release);
    if (ctx_ != nullptr) {
        llama_free(ctx_);
        ctx_ = nullptr;
    }
}

// ---- any thread ----

flash_info session::register_flash(const std::string & query, int64_t max_tokens, int32_t id) {
    check_open();
    // window_size_ is 0 only inside the constructor, where the window is
    // sized after the initial queries. The budget is what follows the prefix
    // as it is now (mark_prefix moves it): the window can shrink to make
    // room for the answers (run_flash evicts), the prefix cannot. Never
    // ctx_ here: it is the decode thread's.
    // view_mu_ is held across the add, so a mark_prefix cannot slip between
    // the check and the query's arrival (lock order: view_mu_, then the
    // registry's).
    std::vector<token_id>       tokens = template_.question(query).tokens;
    std::unique_lock<std::mutex> lock(view_mu_);
    const int32_t budget = window_size_ > 0 ? n_ctx_ - window_.prefix_end() : -1;
    flash_info added = flash_.add(query, max_tokens, std::move(tokens), budget, id);
    lock.unlock();
    if (data_version() > 0) {
        flash_.mark_stale();
    }
    return added;
}

std::optional<flash_info> session::cached_answer(const std::string & prompt) {
    std::optional<flash_info> hit = flash_.cached(prompt, data_version());
    if (hit) {
        counters_.generate_cached.fetch_add(1, std::memory_order_relaxed);
    }
    return hit;
}

void session::track_request(int64_t request_id) {
    requests_.track(request_id);
    counters_.generate_requests.fetch_add(1, std::memory_order_relaxed);
}

session_state session::state() const {
    session_state st;
    st.queue_size = queue_.backlog();
    st.counters   = counters_.snapshot();
    std::lock_guard<std::mutex> lock(view_mu_);
    st.type           = cfg_.type;
    st.context_size   = n_ctx_;
    st.window_size    = window_size_;
    st.prefix_end     = window_.prefix_end();
    st.pos_next       = window_.pos_next();
    st.pos_min        = kv_pos_min_;
    st.pos_max        = kv_pos_max_;
    st.data_count     = window_.data_count();
    st.data_tokens    = window_.data_tokens();
    st.last_inject_us = last_inject_us_;
    st.ring_size      = static_cast<int64_t>(queue_.ring_size());
    st.queue_capacity = static_cast<int64_t>(queue_.capacity());
    st.data_version   = data_version();
    st.running        = !closed();
    st.error          = error_.load(std::memory_order_acquire);
    return st;
}

field_map session::stats() const {
    std::vector<const record *> records;
    std::lock_guard<std::mutex> lock(view_mu_);
    for (const window_entry & e : window_.entries()) {
        if (e.is_record) {
            records.push_back(&e.rec);
        }
    }
    return window_stats(cfg_.type, records);
}

std::vector<record> session::window_records() const {
    std::vector<record> out;
    std::lock_guard<std::mutex> lock(view_mu_);
    for (const window_entry & e : window_.entries()) {
        if (e.is_record) {
            out.push_back(e.rec);
        }
    }
    return out;
}

std::string session::context_text() const {
    std::lock_guard<std::mutex> lock(view_mu_);
    std::string text = window_.prefix_text();
    for (const window_entry & e : window_.entries()) {
        text += e.text;
    }
    return text;
}

} // namespace streaminfer
