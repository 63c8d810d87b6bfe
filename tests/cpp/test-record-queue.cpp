// The record queue's producer side (record-queue.h): what push accepts,
// drops and counts. Draining needs a model's tokenizer: the engine
// scenario covers it (and the record_wait and tokenize stages).

#include "record-queue.h"
#include "test-support.h"

#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

std::vector<record> ohlcv_records(int n) {
    std::vector<record> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(make_record(RECORD_TYPE_OHLCV, {1, 2, 0.5, 1.5, 100.0 + i}));
    }
    return out;
}

// A push's figures: pushed, dropped, then the totals after it.
void expect_push(const push_result & r, int32_t pushed, int32_t dropped, int64_t total_enqueued,
                 int64_t total_dropped) {
    CHECK(r.pushed == pushed);
    CHECK(r.dropped == dropped);
    CHECK(r.total_enqueued == total_enqueued);
    CHECK(r.total_dropped == total_dropped);
    CHECK(r.queue_size == total_enqueued); // nothing drained
    CHECK(r.queue_capacity == 4);
}

TEST_CASE(record_queue_push) {
    live_counters  counters;
    live_latencies latencies;
    record_queue   q(3, counters, latencies); // rounded up to a power of two
    q.set_window(2);
    CHECK(q.capacity() == 4);
    CHECK(q.backlog() == 0);
    CHECK(!q.has_pending());

    expect_push(q.push(ohlcv_records(3), 1), 3, 0, 3, 0);

    // Full: what does not fit is dropped, and not counted as enqueued.
    expect_push(q.push(ohlcv_records(3), 2), 1, 2, 4, 2);
    CHECK(q.ring_size() == 4);
    CHECK(q.backlog() == 4);
    CHECK(!q.has_pending()); // still in the ring: nothing tokenized yet

    const session_counters c = counters.snapshot();
    CHECK(c.total_enqueued == 4);
    CHECK(c.total_dropped == 2);
    CHECK(c.tokenized == 0);
    CHECK(c.skipped == 0);

    expect_push(q.push({}, 3), 0, 0, 4, 2);

    // The queue times nothing on the producer's side (session::push does).
    for (const stage_latency & l : latencies.snapshot()) {
        CHECK(l.snapshot.count == 0);
    }
}

} // namespace
} // namespace streaminfer_test
