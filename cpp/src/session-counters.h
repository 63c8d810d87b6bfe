// A session's counters: one list (the X-macro below) gives the snapshot
// struct, the live atomics and the Python attributes (bindings.cpp).
//
// Threads: each counter is written by the one thread its comment names and
// read by any; a snapshot is a set of relaxed loads (the backlog, which
// needs an order between two counters, is computed in session::backlog).
//
// Generate requests reconcile: every request accepted is running or queued,
// or ended as exactly one of completed, failed, cancelled. (A request still
// queued when the engine closes is dropped with the decode thread's queue
// and counted in none.)
#pragma once

#include <atomic>
#include <cstdint>

#define STREAMINFER_SESSION_COUNTERS(X)                                                                  \
    X(total_enqueued, "records accepted by push (producer)")                                             \
    X(total_dropped, "records refused by push because the queue was full (producer)")                    \
    X(tokenized, "records formatted and tokenized (tokenization worker)")                                \
    X(skipped, "records accepted but never decoded: older than the window when the engine fell behind")  \
    X(evicted, "records that slid out of the window")                                                    \
    X(batches_processed, "data batches decoded")                                                         \
    X(items_processed, "records decoded into the window")                                                \
    X(total_process_time_us, "time spent decoding data batches, microseconds")                           \
    X(total_data_tokens, "record tokens decoded")                                                        \
    X(tokens_decoded, "every token decoded: prefix, data, questions and answers")                        \
    X(prefix_evals, "times the prefix was decoded (once per session)")                                   \
    X(prefix_tokens, "tokens decoded for the prefix as the session opened (decode thread); "             \
                     "append_text decodes into the window, mark_prefix freezes it: neither adds")        \
    X(flash_runs, "times the flash queries were answered")                                               \
    X(total_flash_time_us, "time spent answering flash queries, microseconds")                           \
    X(last_flash_time_us, "time the last flash run took, microseconds")                                  \
    X(generate_requests, "generate requests accepted (the caller of generate)")                          \
    X(generate_completed, "generate requests that ended with generate_done (decode thread)")             \
    X(generate_failed, "generate requests ended by an error other than a cancel or a close "             \
                       "(decode thread)")                                                                \
    X(generate_cancelled, "generate requests, queued or running, ended by a cancel or the "              \
                          "session's close (decode thread)")                                             \
    X(generate_cached, "cached_answer calls that found a fresh flash answer: /generate "                 \
                       "answered without decoding (the caller of cached_answer)")

namespace streaminfer {

struct session_counters {
#define STREAMINFER_FIELD(name, doc) int64_t name = 0;
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
};

struct live_counters {
#define STREAMINFER_FIELD(name, doc) std::atomic<int64_t> name{0};
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD

    // A restore, before any other thread sees the counters.
    void restore(const session_counters & s) {
#define STREAMINFER_FIELD(name, doc) name.store(s.name, std::memory_order_relaxed);
        STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
    }

    session_counters snapshot() const {
        session_counters s;
#define STREAMINFER_FIELD(name, doc) s.name = name.load(std::memory_order_relaxed);
        STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
        return s;
    }
};

} // namespace streaminfer
