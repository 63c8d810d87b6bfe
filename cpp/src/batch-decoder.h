// The batch decoder: every llama_decode of a session goes through it, for
// the live sequence's data and for answers (flash queries and generate).
//
// Answers are decoded on copies of the live sequence: llama_memory_seq_cp
// onto a scratch sequence id (with the unified KV cache the copy shares the
// cells, nothing is copied), the question appended there, greedy decoding,
// then the scratch sequence is removed. Several questions decode side by
// side, one llama_decode per step for all of them.
#pragma once

#include "core-limits.h"
#include "model.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct llama_context;

namespace streaminfer {

// Sequence ids inside a session's llama_context.
constexpr int32_t SEQ_LIVE     = 0;                     // prefix + data window
constexpr int32_t SEQ_FLASH0   = 1;                     // flash query i uses SEQ_FLASH0 + i
constexpr int32_t SEQ_GENERATE = SEQ_FLASH0 + MAX_FLASH_QUERIES;
constexpr int32_t N_SEQ_MAX    = SEQ_GENERATE + 1;

// One question to answer on a copy of the live sequence.
struct answer_job {
    // in
    int32_t                  seq_id = SEQ_GENERATE;
    std::vector<token_id>    prompt;            // question tokens (template applied)
    int32_t                  max_tokens = DEFAULT_FLASH_TOKENS;
    bool                     stop_at_newline = true;
    std::vector<std::string> stop;              // stop strings (generate)
    bool                     keep_first_logits = false;
    // out
    std::string text;
    int32_t     n_generated = 0;
    double      gap_sum = 0.0;   // sum of per-step top-1 minus top-2 probability
    int32_t     n_steps = 0;
    float       first_logit_gap = 0.0f;
    bool        done = false;
    std::string held;            // tail of a UTF-8 sequence not yet streamed
    std::vector<float> first_logits; // [n_vocab], when keep_first_logits

    // Mean top-1/top-2 probability gap over the answer's steps, in [0, 1].
    double confidence() const { return n_steps > 0 ? gap_sum / n_steps : 0.0; }
};

// One token of a llama_batch; `output` >= 0 asks for its logits.
struct batch_token {
    token_id token;
    int32_t  pos;
    int32_t  seq;
    int32_t  output;
};

// Decodes `items` in chunks of n_batch tokens, calling on_logits(output,
// row [n_vocab]) for each token that asked for logits. Decode thread only.
// Returns false when llama_decode failed.
bool decode_chunked(llama_context * ctx, const std::vector<batch_token> & items, int32_t n_batch,
                    const std::function<void(int32_t output, const float * logits)> & on_logits);

// Called after each emitted piece of a job's text (generate streaming).
using piece_callback = std::function<void(const answer_job & job, const std::string & piece, int32_t pos)>;

// Checked between steps: true abandons every job (session closing, request cancelled).
using stop_predicate = std::function<bool()>;

// Where one decode_answers call spent its time (steady_us() differences).
struct answer_timing {
    // The copies of SEQ_LIVE, every question's decode, and each job's first
    // step (its first token picked, and streamed, from the question's logits).
    int64_t prefill_us = 0;
    // Every later step (one llama_decode for all jobs still going) and the
    // removal of the copies.
    int64_t steps_us = 0;
};

// Decode every job side by side on copies of SEQ_LIVE starting at pos_next.
// Decode thread only. Returns false when llama_decode failed (jobs are left
// partial; scratch sequences are removed either way). `timing`, when given,
// is filled in either way.
bool decode_answers(llama_context * ctx, const model & mdl, int32_t pos_next, int32_t n_batch,
                    std::vector<answer_job> & jobs, const piece_callback & on_piece,
                    const stop_predicate & should_stop = nullptr, answer_timing * timing = nullptr);

} // namespace streaminfer
