// A session's latency histograms, one per stage: one list (the X-macro
// below) gives the live histograms, the snapshot in list order and the
// Python objects (bindings-results.cpp). Every time is a steady_us()
// difference (clock.h), in microseconds.
//
// What each stage covers, exactly:
//   push           session::push, entry to return: the closed check and the
//                  ring writes. Not the binding's record checks before it,
//                  nor the tokenizer wake-up after it (engine::push).
//   record_wait    from the entry of the push that accepted a record to the
//                  end of its tokenization: one per record tokenized (the
//                  `tokenized` counter); records skipped in the ring have none.
//   tokenize       one record's format_record + tokenize.
//   decode_batch   the llama_decode calls of one data batch (decode_tokens):
//                  one per counted batch (`batches_processed`); 0 for a batch
//                  whose records were all skipped, none for a failed one.
//   kv_shift       kv_window::make_room when it evicted something: the KV
//                  cells' llama_memory_seq_rm and position shift (data
//                  batches and append_text).
//   flash_prefill  a flash run's questions, all queries side by side: copying
//                  the live sequence to each query's sequence, decoding the
//                  questions, and picking every answer's first token from
//                  the questions' last logits.
//   flash_answer   the same run's later steps: one llama_decode per step for
//                  every answer still going, until all are done, then the
//                  copies' removal. A run whose answers end at their first
//                  token observes ~0. One of each per counted `flash_runs`.
//   fresh_answer   once per flash run that is the first to answer on new
//                  records: from the accepting push's entry for the oldest of
//                  them to the end of the run (answers stored, flash_ready
//                  events pushed for those that changed). Records decoded
//                  while a session has no flash query are never waited for.
//   generate_first_token  from engine::generate's entry (the request
//                  accepted) to its first token event; generations that
//                  stream no token (end of generation at once) have none.
//   generate_total from the same entry to its generate_done event: completed
//                  generations only (`generate_completed`).
//
// Threads: each histogram is written by the thread named in its description
// and read by any (latency-histogram.h).
#pragma once

#include "latency-histogram.h"

#include <vector>

#define STREAMINFER_LATENCY_STAGES(X)                                                                        \
    X(push, "session::push from entry to return: check and enqueue (producer)")                              \
    X(record_wait, "a record from the push that accepted it to its tokenization done (tokenization worker)") \
    X(tokenize, "one record formatted and tokenized (tokenization worker)")                                  \
    X(decode_batch, "one data batch's llama_decode (decode thread)")                                         \
    X(kv_shift, "the window's eviction: KV cells removed and shifted (decode thread)")                       \
    X(flash_prefill, "a flash run's questions decoded, up to every answer's first token (decode thread)")    \
    X(flash_answer, "a flash run's answer steps after the first token (decode thread)")                      \
    X(fresh_answer, "a record's acceptance to the end of the first flash run that answered on it "           \
                  "(decode thread)")                                                                         \
    X(generate_first_token, "a generate request accepted to its first token event (decode thread)")          \
    X(generate_total, "a generate request accepted to its generate_done event (decode thread)")

namespace streaminfer {

// One stage's figures at one instant.
struct stage_latency {
    const char *     name;        // static strings, from the list
    const char *     description;
    latency_snapshot snapshot;
};

struct live_latencies {
#define STREAMINFER_FIELD(name, doc) latency_histogram name;
    STREAMINFER_LATENCY_STAGES(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD

    // Any thread: every stage, in list order.
    std::vector<stage_latency> snapshot() const {
        std::vector<stage_latency> out;
#define STREAMINFER_FIELD(name, doc) out.push_back({#name, doc, name.snapshot()});
        STREAMINFER_LATENCY_STAGES(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
        return out;
    }
};

} // namespace streaminfer
