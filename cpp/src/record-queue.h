// The records a session has accepted and not yet decoded: the ring the
// producer pushes into, then the tokenized records waiting for the decode
// thread. `capacity` bounds all of them together (the backlog): a push past
// it drops (counted), however far behind the decode thread is. When the
// engine falls behind, the records older than the newest
// `window` would slide out before any question saw them: they are skipped
// (counted), never tokenized or decoded.
//
// Threads: push() is the producer's (the event loop), drain() the
// tokenization worker's, take_batch() the decode thread's; the rest any.
#pragma once

#include "latency-stages.h"
#include "model.h"
#include "record-types.h"
#include "session-counters.h"
#include "streaminfer/spsc-ring.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace streaminfer {

struct push_result {
    int32_t pushed = 0;
    int32_t dropped = 0;
    int64_t queue_size = 0;
    int64_t queue_capacity = 0;
    int64_t total_enqueued = 0;
    int64_t total_dropped = 0;
};

// A record in the ring, with the steady_us() at the entry of the push that
// accepted it.
struct queued_record {
    record  rec;
    int64_t accepted_us = 0;
    int64_t seq = 0;         // the session's accepted-record index (total_enqueued before it)
};

// A record after the tokenization worker: its line and tokens.
struct tokenized_record {
    record                rec;
    std::string           text;
    std::vector<token_id> tokens;
    int64_t               accepted_us = 0; // as queued_record's
    int64_t               seq = 0;         // as queued_record's
};

// What one drain moved out of the ring.
struct drain_result {
    size_t      moved = 0;   // tokenized into the pending list, or skipped as too old
    int64_t     failed = 0;  // tokenization threw: counted as skipped
    std::string error;       // the first failure's message
};

// A record's line -> its tokens (the model's tokenizer; tests pass their own).
using tokenize_fn = std::function<std::vector<token_id>(const std::string & text)>;

// Told, before a push accepts anything, which records it will accept: the
// first `count` of the batch, numbered from `first_seq`. The server writes
// them to its log here, so a record is on file before any thread can
// decode it. If it throws, the push fails whole: nothing queued or counted.
using accept_hook = std::function<void(int64_t first_seq, int64_t count)>;

class record_queue {
public:
    // Counts into `counters`: total_enqueued, total_dropped, tokenized, skipped;
    // times into `latencies`: record_wait and tokenize.
    record_queue(size_t capacity, live_counters & counters, live_latencies & latencies);

    // Once, by the owner's constructor, before another thread sees the queue.
    void set_window(int32_t window) { window_ = static_cast<size_t>(window); }

    // Never blocks; what would take the backlog past capacity() is dropped
    // (counted). Each record keeps `accepted_us` (steady_us()), read once by
    // the caller: no clock read per record on the producer's path.
    push_result push(std::vector<record> && records, int64_t accepted_us, const accept_hook & before_accept = {});
    // Formats and tokenizes what the ring holds. A record whose tokenization
    // throws is skipped (counted) and the drain goes on with the next.
    drain_result drain(const tokenize_fn & tokenize);
    bool   has_pending() const;
    // The oldest pending records, up to n_batch tokens (at least one record).
    std::vector<tokenized_record> take_batch(int32_t n_batch, int32_t & n_tokens);

    // Accepted and not yet decoded or skipped, wherever they are.
    int64_t backlog() const;
    size_t  ring_size() const { return ring_.size(); }
    size_t  capacity() const { return capacity_; }

private:
    const size_t                 capacity_;
    spsc_ring<queued_record>     ring_; // producer: event loop; consumer: tokenization worker
    live_counters &              counters_;
    live_latencies &             latencies_;
    size_t                       window_ = 0;
    mutable std::mutex           pending_mu_;
    std::deque<tokenized_record> pending_; // guarded by pending_mu_
};

} // namespace streaminfer
