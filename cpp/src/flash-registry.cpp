#include "flash-registry.h"

#include "core-errors.h"

#include <algorithm>

namespace streaminfer {

namespace {

// Bytes of the whitespace character at text[i] (0: not whitespace): ASCII
// \t \n \v \f \r and space, and the UTF-8 encodings of Unicode's other
// White_Space characters (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000).
size_t space_at(const std::string & text, size_t i) {
    const auto byte = [&](size_t k) { return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u; };
    const unsigned b0 = byte(i);
    if (b0 == ' ' || (b0 >= '\t' && b0 <= '\r')) {
        return 1;
    }
    const unsigned b1 = byte(i + 1);
    const unsigned b2 = byte(i + 2);
    if (b0 == 0xC2 && (b1 == 0x85 || b1 == 0xA0)) {
        return 2;
    }
    const bool u1680 = b0 == 0xE1 && b1 == 0x9A && b2 == 0x80;
    const bool u20xx = b0 == 0xE2 && b1 == 0x80 && (b2 <= 0x8A || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF);
    const bool u205f = b0 == 0xE2 && b1 == 0x81 && b2 == 0x9F;
    const bool u3000 = b0 == 0xE3 && b1 == 0x80 && b2 == 0x80;
    return (u1680 || u20xx || u205f || u3000) ? 3 : 0;
}

} // namespace

std::string normalize_question(const std::string & text) {
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (size_t i = 0; i < text.size();) {
        if (const size_t n = space_at(text, i); n > 0) {
            space = !out.empty();
            i += n;
            continue;
        }
        if (space) {
            out += ' ';
            space = false;
        }
        out += text[i++];
    }
    return out;
}

flash_info flash_registry::add(const std::string & query, int64_t max_tokens, std::vector<token_id> tokens,
                               int32_t budget, int32_t id) {
    entry e;
    e.key = normalize_question(query);
    if (e.key.empty()) {
        throw param_error("query must not be empty", "query");
    }
    e.info.query      = query;
    e.info.max_tokens = static_cast<int32_t>(std::clamp<int64_t>(max_tokens, 1, MAX_FLASH_TOKENS));
    e.info.n_tokens   = static_cast<int32_t>(tokens.size());
    e.tokens          = std::move(tokens);
    std::lock_guard<std::mutex> lock(mu_);
    for (const entry & other : entries_) {
        if (other.key == e.key) {
            throw duplicate_error("flash query already registered (id " + std::to_string(other.info.id) + "): " + query,
                                  "query");
        }
    }
    if (static_cast<int32_t>(entries_.size()) >= MAX_FLASH_QUERIES) {
        throw limit_error("at most " + std::to_string(MAX_FLASH_QUERIES) + " flash queries per session", "query");
    }
    int32_t need = e.info.n_tokens + e.info.max_tokens;
    for (const entry & other : entries_) {
        need += other.info.n_tokens + other.info.max_tokens;
    }
    if (budget >= 0 && budget - need < MIN_DATA_ROOM) {
        throw context_full_error("flash queries would need " + std::to_string(need) + " of the " + std::to_string(budget) +
                                     " tokens after the prefix, leaving less than " + std::to_string(MIN_DATA_ROOM) +
                                     " for data",
                                 need, budget);
    }
    e.info.id = id > 0 ? id : next_id_;
    next_id_  = std::max(next_id_, e.info.id + 1);
    entries_.push_back(std::move(e));
    return entries_.back().info;
}

bool flash_registry::remove(int32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const entry & e) { return e.info.id == id; });
    if (it == entries_.end()) {
        return false;
    }
    entries_.erase(it);
    return true;
}

int32_t flash_registry::next_id() const {
    std::lock_guard<std::mutex> lock(mu_);
    return next_id_;
}

void flash_registry::set_next_id(int32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    next_id_ = std::max(next_id_, id);
}

int32_t flash_registry::count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int32_t>(entries_.size());
}

int32_t flash_registry::reserve_locked() const {
    int32_t need = 0;
    for (const entry & e : entries_) {
        need += e.info.n_tokens + e.info.max_tokens;
    }
    return std::max(need, GENERATE_RESERVE);
}

int32_t flash_registry::reserve() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reserve_locked();
}

std::vector<flash_info> flash_registry::list() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<flash_info> out;
    out.reserve(entries_.size());
    for (const entry & e : entries_) {
        out.push_back(e.info);
    }
    return out;
}

std::optional<flash_info> flash_registry::cached(const std::string & prompt, int64_t version) const {
    const std::string key = normalize_question(prompt);
    std::lock_guard<std::mutex> lock(mu_);
    for (const entry & e : entries_) {
        if (e.key == key && e.info.has_answer && e.info.data_version == version) {
            return e.info;
        }
    }
    return std::nullopt;
}

std::vector<answer_job> flash_registry::take_jobs(std::vector<int32_t> & ids) {
    std::vector<answer_job> jobs;
    ids.clear();
    if (!stale_.exchange(false, std::memory_order_acq_rel)) {
        return jobs;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i) {
        answer_job job;
        job.seq_id     = SEQ_FLASH0 + static_cast<int32_t>(i);
        job.prompt     = entries_[i].tokens;
        job.max_tokens = entries_[i].info.max_tokens;
        jobs.push_back(std::move(job));
        ids.push_back(entries_[i].info.id);
    }
    return jobs;
}

std::vector<flash_info> flash_registry::publish(const std::vector<int32_t> & ids, const std::vector<answer_job> & jobs,
                                                int64_t version, int64_t now_ms) {
    std::vector<flash_info> changed;
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t j = 0; j < jobs.size(); ++j) {
        auto it = std::find_if(entries_.begin(), entries_.end(), [&](const entry & e) { return e.info.id == ids[j]; });
        if (it == entries_.end()) {
            continue; // deleted while it was being answered
        }
        flash_info & q    = it->info;
        const std::string value = normalize_question(jobs[j].text);
        const bool is_new = !q.has_answer || q.value != value;
        q.has_answer    = true;
        q.value         = value;
        q.confidence    = jobs[j].confidence();
        q.logit_gap     = jobs[j].first_logit_gap;
        q.answer_tokens = jobs[j].n_generated;
        q.data_version  = version;
        q.evaluated_at  = now_ms;
        if (is_new) {
            changed.push_back(q);
        }
    }
    return changed;
}

} // namespace streaminfer
