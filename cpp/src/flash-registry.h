// A session's flash queries: the standing questions, their latest answers,
// and whether new data has made those answers stale.
//
// Threads: any thread adds, removes, lists and looks up (under mu_); the
// decode thread takes the answer jobs and publishes what they found. The
// stale flag is set by whoever changes the data or adds a query, and taken
// by the decode thread.
#pragma once

#include "batch-decoder.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace streaminfer {

// Trims and folds runs of whitespace (ASCII and Unicode White_Space, in
// UTF-8) to one space: the key that finds a duplicate query, and a generate
// prompt's flash query. Independent of the C locale.
std::string normalize_question(const std::string & text);

// One query and its latest answer, as callers see it.
struct flash_info {
    int32_t     id = 0;
    std::string query;
    int32_t     max_tokens = DEFAULT_FLASH_TOKENS;
    int32_t     n_tokens = 0;       // the question's tokens (template applied)
    bool        has_answer = false;
    std::string value;
    int32_t     answer_tokens = 0;
    double      confidence = 0.0;   // mean top-1/top-2 probability gap, [0, 1]
    double      logit_gap = 0.0;    // top-1 minus top-2 logit at the first answer token
    int64_t     data_version = 0;   // the data the answer saw
    int64_t     evaluated_at = 0;   // Unix ms
};

class flash_registry {
public:
    // `budget`: tokens of the context after the prefix, which every query's
    // question and answer must leave MIN_DATA_ROOM of; negative skips the
    // check (while a session sizes its window around its initial queries).
    // Throws param_error (empty), duplicate_error, limit_error, context_full_error.
    // `id` 0: the next id; a restore passes the id the query had.
    flash_info add(const std::string & query, int64_t max_tokens, std::vector<token_id> tokens, int32_t budget,
                   int32_t id = 0);
    bool       remove(int32_t id);
    int32_t    count() const;
    // The id the next query gets (ids are never reused in a session's life,
    // restores included).
    int32_t    next_id() const;
    void       set_next_id(int32_t id);
    // Tokens the answers take: questions plus answer lengths, at least GENERATE_RESERVE.
    int32_t    reserve() const;
    std::vector<flash_info>   list() const;
    // The query matching `prompt`, when its answer saw data `version`.
    std::optional<flash_info> cached(const std::string & prompt, int64_t version) const;

    void mark_stale() { stale_.store(count() > 0, std::memory_order_release); }
    bool stale() const { return stale_.load(std::memory_order_acquire); }

    // ---- decode thread ----
    // Takes the stale flag; one job per query (empty when not stale).
    std::vector<answer_job> take_jobs(std::vector<int32_t> & ids);
    // Stores the answers; returns the queries whose answer changed.
    std::vector<flash_info> publish(const std::vector<int32_t> & ids, const std::vector<answer_job> & jobs,
                                    int64_t version, int64_t now_ms);

private:
    struct entry {
        flash_info            info;
        std::string           key;    // normalize_question(query)
        std::vector<token_id> tokens; // question with the template applied
    };
    int32_t reserve_locked() const;

    mutable std::mutex mu_;
    std::vector<entry> entries_; // guarded by mu_
    int32_t            next_id_ = 1; // guarded by mu_
    std::atomic<bool>  stale_{false};
};

} // namespace streaminfer
