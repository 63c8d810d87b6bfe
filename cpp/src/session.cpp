#include "session.h"

#include "window-stats.h"

#include "llama.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace streaminfer {

int64_t unix_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t unix_us() {
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

int64_t steady_us() {
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

// A typical record of each type: its token count sizes the automatic window.
record sample_record(record_type type) {
    record r;
    r.type = type;
    r.has_timestamp = true;
    r.timestamp = 1699999980; // a whole minute: HH:MM
    switch (type) {
        case RECORD_TYPE_OHLCV:   r.num = {185.52, 186.21, 185.07, 185.96, 1234567}; break;
        case RECORD_TYPE_IOT:     r.num = {23.57, 18.5, 30.25, 0, 0}; r.str[0] = "temp-01"; break;
        case RECORD_TYPE_SPATIAL: r.num = {120.55, -45.25, 10.5, 12.75, 270.5}; break;
        case RECORD_TYPE_EVENT:   r.num = {3, 12, 0, 0, 0}; r.str = {"fw-01", "auth"}; break;
        case RECORD_TYPE_VITALS:  r.num = {72.5, 120, 80, 97.5, 36.85}; break;
        case RECORD_TYPE_COUNT:   break;
    }
    return r;
}

} // namespace

session::session(const model & mdl, const prompt_template & tmpl, event_queue & events, session_config cfg)
    : model_(mdl), template_(tmpl), events_(events), cfg_(std::move(cfg)), created_at_ms_(unix_ms()),
      ring_(static_cast<size_t>(std::max(1, cfg_.queue_capacity))), window_(0, 0) {
    if (cfg_.n_ctx < 256) {
        throw std::invalid_argument("context_size must be at least 256 tokens (got " + std::to_string(cfg_.n_ctx) + ")");
    }
    if (cfg_.n_ctx > model_.n_ctx_train()) {
        throw std::invalid_argument("context_size " + std::to_string(cfg_.n_ctx) + " exceeds the model's training context (" +
                                    std::to_string(model_.n_ctx_train()) + ")");
    }
    if (cfg_.window_size < 0) {
        throw std::invalid_argument("window_size must be >= 1 (or 0 / absent for automatic)");
    }
    n_ctx_  = cfg_.n_ctx;
    prefix_ = template_.prefix(cfg_.system_prompt, record_header(cfg_.type));
    last_used_ms_ = created_at_ms_;
    for (const auto & [query, max_tokens] : cfg_.flash) {
        register_flash(query, max_tokens);
    }
    int32_t reserve = 0;
    {
        std::lock_guard<std::mutex> lock(flash_mu_);
        reserve = flash_reserve_locked();
    }
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
        throw std::invalid_argument("window_size " + std::to_string(cfg_.window_size) + " does not fit: a " +
                                    std::to_string(n_ctx_) + "-token context holds about " + std::to_string(fits) + " " +
                                    record_type_name(cfg_.type) + " records (~" + std::to_string(per_record) +
                                    " tokens each) after the prefix and the answer reserve");
    }
    window_size_ = cfg_.window_size > 0 ? cfg_.window_size : fits;
    window_      = kv_window(n_ctx_, window_size_);
}

session::~session() {
    release();
}

void session::check_open() const {
    if (closed()) {
        throw closed_error("session " + cfg_.id + " is closed");
    }
}

// ---- producer ----

push_result session::push(std::vector<record> && records) {
    check_open();
    push_result r;
    // Counted as enqueued before the ring publishes them (the release store
    // of its tail), so no reader ever sees a record processed or skipped that
    // is not yet counted as enqueued; the ones that do not fit are taken back.
    const auto n = static_cast<int64_t>(records.size());
    total_enqueued_.fetch_add(n, std::memory_order_relaxed);
    for (record & rec : records) {
        if (ring_.try_push(std::move(rec))) {
            r.pushed += 1;
        } else {
            r.dropped += 1;
        }
    }
    r.total_enqueued = total_enqueued_.fetch_sub(r.dropped, std::memory_order_relaxed) - r.dropped;
    r.total_dropped  = total_dropped_.fetch_add(r.dropped, std::memory_order_relaxed) + r.dropped;
    r.queue_size     = backlog();
    r.queue_capacity = static_cast<int64_t>(ring_.capacity());
    return r;
}

// ---- tokenization worker ----

size_t session::drain_ring() {
    std::vector<tokenized_record> local;
    record rec;
    // Falling behind: what is beyond the newest window_size records would be
    // evicted before any question saw it, so it is neither tokenized nor
    // decoded (counted as skipped).
    const size_t in_ring = ring_.size();
    size_t n_skip = in_ring > static_cast<size_t>(window_size_) ? in_ring - static_cast<size_t>(window_size_) : 0;
    for (size_t i = 0; i < n_skip; ++i) {
        if (!ring_.try_pop(rec)) {
            n_skip = i;
            break;
        }
    }
    skipped_.fetch_add(static_cast<int64_t>(n_skip), std::memory_order_release);
    while (local.size() < static_cast<size_t>(window_size_) && ring_.try_pop(rec)) {
        tokenized_record tr;
        tr.text   = format_record(rec);
        tr.tokens = model_.tokenize(tr.text, false, false);
        tr.rec    = std::move(rec);
        local.push_back(std::move(tr));
    }
    if (!local.empty()) {
        std::lock_guard<std::mutex> lock(pending_mu_);
        for (tokenized_record & tr : local) {
            pending_.push_back(std::move(tr));
        }
    }
    tokenized_.fetch_add(static_cast<int64_t>(local.size()), std::memory_order_relaxed);
    return local.size() + n_skip;
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
    tokens_decoded_.fetch_add(static_cast<int64_t>(tokens.size()), std::memory_order_relaxed);
    return true;
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
        throw std::runtime_error("llama.cpp could not create a context of " + std::to_string(n_ctx_) + " tokens");
    }
    if (!llama_memory_can_shift(llama_get_memory(ctx_))) {
        llama_free(ctx_);
        ctx_ = nullptr;
        throw std::invalid_argument("this model's KV cache cannot shift positions; sliding windows need it");
    }
    if (!decode_tokens(prefix_.tokens, 0)) {
        llama_free(ctx_);
        ctx_ = nullptr;
        throw std::runtime_error("llama_decode failed on the session prefix");
    }
    prefix_evals_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(view_mu_);
    window_.set_prefix(static_cast<int32_t>(prefix_.tokens.size()), prefix_.text);
    publish_positions();
}

bool session::has_stream_work() const {
    std::lock_guard<std::mutex> lock(pending_mu_);
    return !pending_.empty();
}

int32_t session::flash_reserve_locked() const {
    int32_t flash = 0;
    for (const flash_query & q : flash_) {
        flash += static_cast<int32_t>(q.tokens.size()) + q.max_tokens;
    }
    return std::max(flash, GENERATE_RESERVE);
}

int32_t session::token_limit() const {
    std::lock_guard<std::mutex> lock(flash_mu_);
    return n_ctx_ - flash_reserve_locked();
}

void session::run_stream_batch() {
    if (closed() || ctx_ == nullptr) {
        return;
    }
    const int64_t t0 = steady_us();
    std::vector<tokenized_record> batch;
    int32_t n_tokens = 0;
    {
        std::lock_guard<std::mutex> lock(pending_mu_);
        // Falling behind: records older than the newest window_size would be
        // evicted before any question saw them, so they are not decoded.
        if (pending_.size() > static_cast<size_t>(window_size_)) {
            const size_t n_skip = pending_.size() - static_cast<size_t>(window_size_);
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n_skip));
            skipped_.fetch_add(static_cast<int64_t>(n_skip), std::memory_order_release);
        }
        while (!pending_.empty()) {
            const int32_t n = static_cast<int32_t>(pending_.front().tokens.size());
            if (!batch.empty() && n_tokens + n > cfg_.n_batch) {
                break;
            }
            n_tokens += n;
            batch.push_back(std::move(pending_.front()));
            pending_.pop_front();
        }
    }
    if (batch.empty()) {
        return;
    }
    const int32_t limit = token_limit();
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        const eviction ev = window_.make_room(ctx_, static_cast<int32_t>(batch.size()), n_tokens, limit);
        evicted_records_.fetch_add(ev.n_records, std::memory_order_relaxed);
        publish_positions(); // readers must not see the pre-eviction pos_max while the batch decodes
    }
    // A batch larger than the whole data budget (tiny contexts): its oldest
    // records cannot be kept either.
    size_t first = 0;
    while (first < batch.size() && window_.pos_next() + n_tokens > limit) {
        n_tokens -= static_cast<int32_t>(batch[first].tokens.size());
        ++first;
    }
    skipped_.fetch_add(static_cast<int64_t>(first), std::memory_order_release);
    std::vector<token_id> tokens;
    tokens.reserve(static_cast<size_t>(n_tokens));
    for (size_t i = first; i < batch.size(); ++i) {
        tokens.insert(tokens.end(), batch[i].tokens.begin(), batch[i].tokens.end());
    }
    if (!tokens.empty() && !decode_tokens(tokens, window_.pos_next())) {
        // Accounted for, not silently lost: the error event says why.
        skipped_.fetch_add(static_cast<int64_t>(batch.size() - first), std::memory_order_release);
        events_.push(event("error", cfg_.id).set("message", std::string("llama_decode failed on a data batch")));
        return;
    }
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        for (size_t i = first; i < batch.size(); ++i) {
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
    items_processed_.fetch_add(static_cast<int64_t>(batch.size() - first), std::memory_order_release);
    total_data_tokens_.fetch_add(n_tokens, std::memory_order_relaxed);
    batches_processed_.fetch_add(1, std::memory_order_relaxed);
    total_process_time_us_.fetch_add(steady_us() - t0, std::memory_order_relaxed);
    const int64_t version = data_version_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (flash_count() > 0) {
        flash_dirty_.store(true, std::memory_order_release);
    }
    events_.push(event("data_updated", cfg_.id)
                     .set("data_version", version)
                     .set("data_count", static_cast<int64_t>(window_.data_count()))
                     .set("pos_next", static_cast<int64_t>(window_.pos_next())));
}

void session::run_flash() {
    if (!flash_dirty_.exchange(false, std::memory_order_acq_rel) || closed() || ctx_ == nullptr) {
        return;
    }
    const int64_t t0 = steady_us();
    std::vector<answer_job> jobs;
    std::vector<int32_t>    ids;
    {
        std::lock_guard<std::mutex> lock(flash_mu_);
        for (size_t i = 0; i < flash_.size(); ++i) {
            answer_job job;
            job.seq_id     = SEQ_FLASH0 + static_cast<int32_t>(i);
            job.prompt     = flash_[i].tokens;
            job.max_tokens = flash_[i].max_tokens;
            jobs.push_back(std::move(job));
            ids.push_back(flash_[i].id);
        }
    }
    if (jobs.empty()) {
        return;
    }
    const int64_t version = data_version();
    const bool ok = decode_answers(ctx_, model_, window_.pos_next(), cfg_.n_batch, jobs, nullptr,
                                   [this] { return closed(); });
    for (const answer_job & job : jobs) {
        tokens_decoded_.fetch_add(static_cast<int64_t>(job.prompt.size()) + std::max(0, job.n_steps - 1),
                                  std::memory_order_relaxed);
    }
    if (!ok) {
        error_.store(true, std::memory_order_release);
        events_.push(event("error", cfg_.id).set("message", std::string("llama_decode failed on flash queries")));
        return;
    }
    const int64_t now = unix_ms();
    std::vector<event> ready;
    {
        std::lock_guard<std::mutex> lock(flash_mu_);
        for (size_t j = 0; j < jobs.size(); ++j) {
            auto it = std::find_if(flash_.begin(), flash_.end(), [&](const flash_query & q) { return q.id == ids[j]; });
            if (it == flash_.end()) {
                continue; // deleted while it was being answered
            }
            const std::string value = normalize_question(jobs[j].text);
            const bool changed = !it->has_answer || it->value != value;
            it->has_answer   = true;
            it->value        = value;
            it->confidence   = jobs[j].confidence();
            it->logit_gap    = jobs[j].first_logit_gap;
            it->answer_tokens = jobs[j].n_generated;
            it->data_version = version;
            it->evaluated_at = now;
            if (changed) {
                ready.push_back(event("flash_ready", cfg_.id)
                                    .set("id", static_cast<int64_t>(it->id))
                                    .set("query", it->query)
                                    .set("value", it->value)
                                    .set("confidence", it->confidence)
                                    .set("data_version", version)
                                    .set("evaluated_at", now));
            }
        }
    }
    const int64_t elapsed = steady_us() - t0;
    flash_runs_.fetch_add(1, std::memory_order_relaxed);
    total_flash_time_us_.fetch_add(elapsed, std::memory_order_relaxed);
    last_flash_time_us_.store(elapsed, std::memory_order_relaxed);
    for (event & ev : ready) {
        events_.push(std::move(ev));
    }
}

void session::track_request(int64_t request_id) {
    std::lock_guard<std::mutex> lock(requests_mu_);
    requests_[request_id] = false;
}

bool session::cancel(int64_t request_id) {
    std::lock_guard<std::mutex> lock(requests_mu_);
    auto it = requests_.find(request_id);
    if (it == requests_.end()) {
        return false;
    }
    it->second = true;
    return true;
}

bool session::request_cancelled(int64_t request_id) const {
    std::lock_guard<std::mutex> lock(requests_mu_);
    auto it = requests_.find(request_id);
    return it != requests_.end() && it->second;
}

void session::finish_request(int64_t request_id) {
    std::lock_guard<std::mutex> lock(requests_mu_);
    requests_.erase(request_id);
}

void session::run_generate(int64_t request_id, std::vector<token_id> prompt, int32_t max_tokens,
                           std::vector<std::string> stop) {
    struct finish_guard { // also when an exception leaves
        session & s;
        int64_t   id;
        ~finish_guard() { s.finish_request(id); }
    } guard{*this, request_id};
    // The request is forgotten before its last event goes out: whoever hears
    // that event finds nothing left to cancel.
    auto fail = [&](const std::string & message) {
        finish_request(request_id);
        events_.push(event("generate_error", cfg_.id).set("request_id", request_id).set("message", message));
    };
    if (closed() || ctx_ == nullptr) {
        fail("session " + cfg_.id + " is closed");
        return;
    }
    if (request_cancelled(request_id)) {
        fail("cancelled");
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
    const bool ok = decode_answers(ctx_, model_, pos, cfg_.n_batch, jobs,
                                   [&](const answer_job &, const std::string & piece, int32_t p) {
                                       events_.push(event("token", cfg_.id)
                                                        .set("request_id", request_id)
                                                        .set("token", piece)
                                                        .set("pos", static_cast<int64_t>(p)));
                                   },
                                   [&] { return closed() || request_cancelled(request_id); });
    tokens_decoded_.fetch_add(static_cast<int64_t>(job.prompt.size()) + std::max(0, job.n_steps - 1),
                              std::memory_order_relaxed);
    if (!ok) {
        fail("llama_decode failed while generating");
        return;
    }
    if (closed() || request_cancelled(request_id)) {
        fail(closed() ? "session " + cfg_.id + " was closed during the generation" : "cancelled");
        return;
    }
    finish_request(request_id);
    events_.push(event("generate_done", cfg_.id)
                     .set("request_id", request_id)
                     .set("text", job.text)
                     .set("n_tokens", static_cast<int64_t>(job.n_generated))
                     .set("confidence", job.confidence())
                     .set("logit_gap", static_cast<double>(job.first_logit_gap))
                     .set("data_version", data_version())
                     .set("total_tokens", static_cast<int64_t>(pos))
                     .set("pos_max", static_cast<int64_t>(pos - 1)));
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

field_map session::run_append(const std::string & text) {
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
        const eviction ev = window_.make_room(ctx_, 0, static_cast<int32_t>(tokens.size()), limit);
        evicted_records_.fetch_add(ev.n_records, std::memory_order_relaxed);
        publish_positions();
    }
    if (!tokens.empty() && !decode_tokens(tokens, window_.pos_next())) {
        throw std::runtime_error("llama_decode failed on the appended text");
    }
    int32_t pos_next = 0;
    {
        std::lock_guard<std::mutex> lock(view_mu_);
        window_entry e;
        e.n_tokens = static_cast<int32_t>(tokens.size());
        e.text     = text;
        window_.append(std::move(e));
        last_inject_us_ = unix_us();
        publish_positions();
        pos_next = window_.pos_next();
    }
    const int64_t version = data_version_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (flash_count() > 0) {
        flash_dirty_.store(true, std::memory_order_release);
    }
    events_.push(event("data_updated", cfg_.id)
                     .set("data_version", version)
                     .set("data_count", static_cast<int64_t>(window_.data_count()))
                     .set("pos_next", static_cast<int64_t>(pos_next)));
    return {{"n_tokens_added", static_cast<int64_t>(tokens.size())},
            {"total_tokens", static_cast<int64_t>(pos_next)},
            {"pos_max", static_cast<int64_t>(pos_next - 1)}};
}

field_map session::run_mark_prefix() {
    check_open();
    std::lock_guard<std::mutex> lock(view_mu_);
    const int32_t frozen = window_.freeze();
    return {{"prefix_end", static_cast<int64_t>(window_.prefix_end())},
            {"n_records_frozen", static_cast<int64_t>(frozen)}};
}

void session::release() {
    closed_.store(true, std::memory_order_release);
    if (ctx_ != nullptr) {
        llama_free(ctx_);
        ctx_ = nullptr;
    }
}

// ---- any thread ----

field_map session::register_flash(const std::string & query, int32_t max_tokens) {
    check_open();
    const std::string key = normalize_question(query);
    if (key.empty()) {
        throw std::invalid_argument("query must not be empty");
    }
    flash_query q;
    q.query      = query;
    q.key        = key;
    q.max_tokens = std::clamp(max_tokens, 1, MAX_FLASH_TOKENS);
    q.tokens     = template_.question(query).tokens;
    std::lock_guard<std::mutex> lock(flash_mu_);
    for (const flash_query & other : flash_) {
        if (other.key == key) {
            throw duplicate_error("flash query already registered (id " + std::to_string(other.id) + "): " + query);
        }
    }
    if (static_cast<int32_t>(flash_.size()) >= MAX_FLASH_QUERIES) {
        throw limit_error("at most " + std::to_string(MAX_FLASH_QUERIES) + " flash queries per session");
    }
    const int32_t prefix  = static_cast<int32_t>(prefix_.tokens.size());
    int32_t reserve = static_cast<int32_t>(q.tokens.size()) + q.max_tokens;
    for (const flash_query & other : flash_) {
        reserve += static_cast<int32_t>(other.tokens.size()) + other.max_tokens;
    }
    // window_size_ is 0 only inside the constructor, where the window is sized
    // after the flash queries. (Never ctx_ here: it is the decode thread's.)
    if (window_size_ > 0) {
        const int32_t room = n_ctx_ - prefix - reserve;
        if (room < 32) {
            throw context_full_error("flash queries would need " + std::to_string(reserve) +
                                         " tokens of a " + std::to_string(n_ctx_) + "-token context, leaving no room for data",
                                     reserve, n_ctx_ - prefix);
        }
    }
    q.id = next_flash_id_++;
    flash_.push_back(std::move(q));
    if (data_version() > 0) {
        flash_dirty_.store(true, std::memory_order_release);
    }
    const flash_query & added = flash_.back();
    return {{"id", static_cast<int64_t>(added.id)},
            {"max_tokens", static_cast<int64_t>(added.max_tokens)},
            {"n_tokens", static_cast<int64_t>(added.tokens.size())},
            {"total_flash_queries", static_cast<int64_t>(flash_.size())}};
}

bool session::delete_flash(int32_t id) {
    std::lock_guard<std::mutex> lock(flash_mu_);
    auto it = std::find_if(flash_.begin(), flash_.end(), [&](const flash_query & q) { return q.id == id; });
    if (it == flash_.end()) {
        return false;
    }
    flash_.erase(it);
    return true;
}

int32_t session::flash_count() const {
    std::lock_guard<std::mutex> lock(flash_mu_);
    return static_cast<int32_t>(flash_.size());
}

std::vector<field_map> session::list_flash() const {
    std::lock_guard<std::mutex> lock(flash_mu_);
    std::vector<field_map> out;
    for (const flash_query & q : flash_) {
        out.push_back({{"id", static_cast<int64_t>(q.id)},
                       {"query", q.query},
                       {"max_tokens", static_cast<int64_t>(q.max_tokens)},
                       {"n_tokens", static_cast<int64_t>(q.tokens.size())},
                       {"has_answer", q.has_answer},
                       {"value", q.value},
                       {"data_version", q.data_version},
                       {"confidence", q.confidence},
                       {"logit_gap", static_cast<double>(q.logit_gap)},
                       {"evaluated_at", q.evaluated_at}});
    }
    return out;
}

std::optional<field_map> session::cached_answer(const std::string & prompt) const {
    const std::string key = normalize_question(prompt);
    const int64_t version = data_version();
    std::lock_guard<std::mutex> lock(flash_mu_);
    for (const flash_query & q : flash_) {
        if (q.key == key && q.has_answer && q.data_version == version) {
            return field_map{{"id", static_cast<int64_t>(q.id)},
                             {"value", q.value},
                             {"confidence", q.confidence},
                             {"logit_gap", static_cast<double>(q.logit_gap)},
                             {"data_version", q.data_version},
                             {"n_tokens", static_cast<int64_t>(q.answer_tokens)}};
        }
    }
    return std::nullopt;
}

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

int32_t session::n_prefix_tokens() const {
    std::lock_guard<std::mutex> lock(view_mu_);
    return window_.prefix_end();
}

void session::touch() {
    std::lock_guard<std::mutex> lock(view_mu_);
    last_used_ms_ = unix_ms();
}

int64_t session::backlog() const {
    // Done first, then accepted: acquire pairs with the release increments of
    // items_processed_ and skipped_, which come after the records' pop from
    // the ring, which comes after their count in total_enqueued_. So the
    // difference is never negative; it covers the ring, the tokenizer, the
    // pending list and the batch being decoded.
    const int64_t done = items_processed_.load(std::memory_order_acquire) + skipped_.load(std::memory_order_acquire);
    return total_enqueued_.load(std::memory_order_relaxed) - done;
}

field_map session::state() const {
    const int64_t queued = backlog();
    std::lock_guard<std::mutex> lock(view_mu_);
    const auto load = [](const std::atomic<int64_t> & a) { return a.load(std::memory_order_relaxed); };
    const int64_t batches = load(batches_processed_);
    const int64_t runs    = load(flash_runs_);
    return {
        {"type", std::string(record_type_name(cfg_.type))},
        {"n_tokens", static_cast<int64_t>(window_.pos_next())},
        {"n_prefix_tokens", static_cast<int64_t>(prefix_.tokens.size())},
        {"context_size", static_cast<int64_t>(n_ctx_)},
        {"pos_min", static_cast<int64_t>(kv_pos_min_)},
        {"pos_max", static_cast<int64_t>(kv_pos_max_)},
        {"pos_next", static_cast<int64_t>(window_.pos_next())},
        {"prefix_end", static_cast<int64_t>(window_.prefix_end())},
        {"window_size", static_cast<int64_t>(window_size_)},
        {"data_start", static_cast<int64_t>(window_.prefix_end())},
        {"data_end", static_cast<int64_t>(window_.pos_next())},
        {"data_count", static_cast<int64_t>(window_.data_count())},
        {"data_tokens", static_cast<int64_t>(window_.data_tokens())},
        {"last_inject_us", last_inject_us_},
        {"cache_usage", static_cast<double>(window_.pos_next()) / static_cast<double>(n_ctx_)},
        {"queue_size", queued},
        {"ring_size", static_cast<int64_t>(ring_.size())},
        {"queue_capacity", static_cast<int64_t>(ring_.capacity())},
        {"total_enqueued", load(total_enqueued_)},
        {"total_dropped", load(total_dropped_)},
        {"tokenized", load(tokenized_)},
        {"skipped", load(skipped_)},
        {"evicted", load(evicted_records_)},
        {"batches_processed", batches},
        {"items_processed", load(items_processed_)},
        {"total_process_time_us", load(total_process_time_us_)},
        {"avg_process_time_us", batches > 0 ? static_cast<double>(load(total_process_time_us_)) / static_cast<double>(batches) : 0.0},
        {"total_data_tokens", load(total_data_tokens_)},
        {"tokens_decoded", load(tokens_decoded_)},
        {"prefix_evals", load(prefix_evals_)},
        {"data_version", data_version()},
        {"flash_runs", runs},
        {"last_flash_time_us", load(last_flash_time_us_)},
        {"avg_flash_time_us", runs > 0 ? static_cast<double>(load(total_flash_time_us_)) / static_cast<double>(runs) : 0.0},
        {"process_interval_us", int64_t{0}},
        {"running", !closed()},
        {"error", error_.load(std::memory_order_acquire)},
        {"created_at", created_at_ms_},
        {"last_used_at", last_used_ms_},
    };
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

std::string session::context_text() const {
    std::lock_guard<std::mutex> lock(view_mu_);
    std::string text = window_.prefix_text();
    for (const window_entry & e : window_.entries()) {
        text += e.text;
    }
    return text;
}

std::vector<field_map> session::slots() const {
    std::lock_guard<std::mutex> lock(view_mu_);
    const int64_t p = window_.prefix_end();
    const int64_t n = window_.pos_next();
    return {
        {{"name", std::string("prefix")}, {"start", int64_t{0}}, {"end", p}, {"n_tokens", p}},
        {{"name", std::string("data")}, {"start", p}, {"end", n}, {"n_tokens", n - p}},
        {{"name", std::string("free")}, {"start", n}, {"end", static_cast<int64_t>(n_ctx_)},
         {"n_tokens", static_cast<int64_t>(n_ctx_) - n}},
    };
}

} // namespace streaminfer
