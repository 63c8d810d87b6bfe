#include "batch-decoder.h"

#include "clock.h"

#include "llama.h"

#include <algorithm>
#include <cmath>

namespace streaminfer {

namespace {

struct top2 {
    token_id best = 0;
    float    l1 = -INFINITY;
    float    l2 = -INFINITY;
    double   gap = 0.0; // p1 - p2 after softmax
};

// One pass for the two largest logits, one for the softmax denominator.
top2 scan_logits(const float * logits, int32_t n_vocab) {
    top2 t;
    for (int32_t i = 0; i < n_vocab; ++i) {
        const float l = logits[i];
        if (l > t.l1) {
            t.l2 = t.l1;
            t.l1 = l;
            t.best = i;
        } else if (l > t.l2) {
            t.l2 = l;
        }
    }
    double denom = 0.0;
    for (int32_t i = 0; i < n_vocab; ++i) {
        denom += std::exp(static_cast<double>(logits[i] - t.l1));
    }
    const double p1 = 1.0 / denom;
    const double p2 = std::exp(static_cast<double>(t.l2 - t.l1)) / denom;
    t.gap = std::clamp(p1 - p2, 0.0, 1.0);
    return t;
}

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(const std::string & s) {
    size_t i = s.size();
    size_t back = 0;
    while (i > 0 && back < 4) {
        const auto ch = static_cast<unsigned char>(s[i - 1]);
        if ((ch & 0xC0) != 0x80) {            // a lead byte or ASCII
            const size_t need = ch < 0x80 ? 1 : (ch >> 5) == 0x6 ? 2 : (ch >> 4) == 0xE ? 3 : (ch >> 3) == 0x1E ? 4 : 1;
            return back + 1 >= need ? s.size() : i - 1;
        }
        --i;
        ++back;
    }
    return s.size();
}

// Applies one greedy step to a job; returns the token to feed next, or -1 when the job is done.
token_id take_step(answer_job & job, const model & mdl, const float * logits, int32_t pos,
                   const piece_callback & on_piece) {
    const top2 t = scan_logits(logits, mdl.n_vocab());
    if (job.n_steps == 0) {
        job.first_logit_gap = t.l1 - t.l2;
        if (job.keep_first_logits) {
            job.first_logits.assign(logits, logits + mdl.n_vocab());
        }
    }
    job.gap_sum += t.gap;
    job.n_steps += 1;
    if (mdl.is_eog(t.best)) {
        job.done = true;
        return -1;
    }
    std::string piece = mdl.token_piece(t.best);
    job.n_generated += 1;
    if (job.stop_at_newline) {
        const size_t nl = piece.find('\n');
        const bool   blank_so_far = job.text.find_first_not_of(" \t\r\n") == std::string::npos;
        if (nl != std::string::npos && !(blank_so_far && piece.find_first_not_of("\r\n ") == std::string::npos)) {
            piece.resize(nl);
            job.done = true;
        }
    }
    const size_t before = job.text.size();
    job.text += piece;
    for (const std::string & s : job.stop) {
        // Earlier steps found no match in the text before this piece, so a
        // match must end inside it: only the last s.size() - 1 bytes before
        // it are searched again (bounded by MAX_STOP_LENGTH per string).
        const size_t from = s.size() > before ? 0 : before - s.size() + 1;
        const size_t at   = s.empty() ? std::string::npos : job.text.find(s, from);
        if (at != std::string::npos) {
            job.text.resize(at);
            job.done = true;
            piece.clear(); // the stop string itself is never streamed
        }
    }
    if (on_piece) {
        // Stream whole UTF-8 characters only: a token may end mid-character.
        job.held += piece;
        const size_t n = job.done ? job.held.size() : utf8_complete_prefix(job.held);
        if (n > 0) {
            on_piece(job, job.held.substr(0, n), pos);
            job.held.erase(0, n);
        }
    }
    if (job.n_generated >= job.max_tokens) {
        job.done = true;
    }
    return job.done ? -1 : t.best;
}

} // namespace

bool decode_chunked(llama_context * ctx, const std::vector<batch_token> & items, int32_t n_batch,
                    const std::function<void(int32_t output, const float * logits)> & on_logits) {
    llama_batch batch = llama_batch_init(n_batch, 0, 1);
    bool ok = true;
    for (size_t start = 0; start < items.size() && ok; start += static_cast<size_t>(n_batch)) {
        const size_t end = std::min(items.size(), start + static_cast<size_t>(n_batch));
        batch.n_tokens = 0;
        for (size_t i = start; i < end; ++i) {
            const int32_t k = batch.n_tokens++;
            batch.token[k]     = items[i].token;
            batch.pos[k]       = items[i].pos;
            batch.n_seq_id[k]  = 1;
            batch.seq_id[k][0] = items[i].seq;
            batch.logits[k]    = items[i].output >= 0 ? 1 : 0;
        }
        ok = llama_decode(ctx, batch) == 0;
        for (size_t i = start; ok && i < end; ++i) {
            if (items[i].output >= 0) {
                on_logits(items[i].output, llama_get_logits_ith(ctx, static_cast<int32_t>(i - start)));
            }
        }
    }
    llama_batch_free(batch);
    return ok;
}

bool decode_answers(llama_context * ctx, const model & mdl, int32_t pos_next, int32_t n_batch,
                    std::vector<answer_job> & jobs, const piece_callback & on_piece,
                    const stop_predicate & should_stop, answer_timing * timing) {
    const int64_t  t_start = steady_us();
    llama_memory_t mem = llama_get_memory(ctx);
    std::vector<batch_token>   items;
    std::vector<int32_t>       next_pos(jobs.size());
    for (size_t j = 0; j < jobs.size(); ++j) {
        answer_job & job = jobs[j];
        llama_memory_seq_rm(mem, job.seq_id, -1, -1);
        llama_memory_seq_cp(mem, SEQ_LIVE, job.seq_id, -1, -1);
        for (size_t i = 0; i < job.prompt.size(); ++i) {
            const bool last = i + 1 == job.prompt.size();
            items.push_back({job.prompt[i], pos_next + static_cast<int32_t>(i), job.seq_id,
                             last ? static_cast<int32_t>(j) : -1});
        }
        next_pos[j] = pos_next + static_cast<int32_t>(job.prompt.size());
    }

    std::vector<token_id> feed(jobs.size(), -1);
    auto on_logits = [&](int32_t j, const float * logits) {
        feed[static_cast<size_t>(j)] = take_step(jobs[static_cast<size_t>(j)], mdl, logits, next_pos[static_cast<size_t>(j)], on_piece);
    };
    bool ok = decode_chunked(ctx, items, n_batch, on_logits);
    const int64_t t_prefilled = steady_us();

    // One llama_decode per step for every job still going.
    while (ok && !(should_stop && should_stop())) {
        items.clear();
        for (size_t j = 0; j < jobs.size(); ++j) {
            if (feed[j] >= 0) {
                items.push_back({feed[j], next_pos[j], jobs[j].seq_id, static_cast<int32_t>(j)});
                next_pos[j] += 1;
                feed[j] = -1;
            }
        }
        if (items.empty()) {
            break;
        }
        ok = decode_chunked(ctx, items, n_batch, on_logits);
    }

    for (const answer_job & job : jobs) {
        llama_memory_seq_rm(mem, job.seq_id, -1, -1);
    }
    if (timing != nullptr) {
        timing->prefill_us = t_prefilled - t_start;
        timing->steps_us   = steady_us() - t_prefilled;
    }
    return ok;
}

} // namespace streaminfer
