// The record queue's producer side (record-queue.h): what push accepts,
// drops and counts. Draining needs a model's tokenizer: the engine
// scenario covers it.

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

void test_record_queue_push() {
    live_counters counters;
    record_queue  q(3, counters); // rounded up to a power of two
    q.set_window(2);
    CHECK(q.capacity() == 4);
    CHECK(q.backlog() == 0);
    CHECK(!q.has_pending());

    const push_result first = q.push(ohlcv_records(3));
    CHECK(first.pushed == 3);
    CHECK(first.dropped == 0);
    CHECK(first.total_enqueued == 3);
    CHECK(first.queue_size == 3);
    CHECK(first.queue_capacity == 4);

    // Full: what does not fit is dropped, and not counted as enqueued.
    const push_result second = q.push(ohlcv_records(3));
    CHECK(second.pushed == 1);
    CHECK(second.dropped == 2);
    CHECK(second.total_enqueued == 4);
    CHECK(second.total_dropped == 2);
    CHECK(second.queue_size == 4);
    CHECK(q.ring_size() == 4);
    CHECK(q.backlog() == 4);
    CHECK(!q.has_pending()); // still in the ring: nothing tokenized yet

    const session_counters c = counters.snapshot();
    CHECK(c.total_enqueued == 4);
    CHECK(c.total_dropped == 2);
    CHECK(c.tokenized == 0);
    CHECK(c.skipped == 0);

    const push_result none = q.push({});
    CHECK(none.pushed == 0 && none.dropped == 0);
    CHECK(none.total_enqueued == 4);
}

} // namespace

std::vector<test_case> record_queue_cases() {
    return {{"record_queue_push", test_record_queue_push}};
}

} // namespace streaminfer_test
