// The record queue (record-queue.h): what push accepts, drops and counts,
// with the backlog bounded over the ring and the pending list together, and
// what a drain does when tokenization throws. Drains here tokenize with a
// function of the test's (one token per byte); the engine scenario covers
// the model's tokenizer (and the record_wait and tokenize stages).

#include "record-queue.h"
#include "test-support.h"

#include <stdexcept>
#include <string>
#include <utility>
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
    CHECK(r.queue_size == total_enqueued); // nothing decoded
    CHECK(r.queue_capacity == 3);
}

std::vector<token_id> byte_tokens(const std::string & text) {
    return std::vector<token_id>(text.begin(), text.end());
}

TEST_CASE(record_queue_push) {
    live_counters  counters;
    live_latencies latencies;
    record_queue   q(3, counters, latencies); // exact, though the ring inside rounds up to 4
    q.set_window(2);
    CHECK(q.capacity() == 3);
    CHECK(q.backlog() == 0);
    CHECK(!q.has_pending());

    expect_push(q.push(ohlcv_records(3), 1), 3, 0, 3, 0);

    // Full: what does not fit is dropped, and not counted as enqueued.
    expect_push(q.push(ohlcv_records(3), 2), 0, 3, 3, 3);
    CHECK(q.ring_size() == 3);
    CHECK(q.backlog() == 3);
    CHECK(!q.has_pending()); // still in the ring: nothing tokenized yet

    const session_counters c = counters.snapshot();
    CHECK(c.total_enqueued == 3);
    CHECK(c.total_dropped == 3);
    CHECK(c.tokenized == 0);
    CHECK(c.skipped == 0);

    expect_push(q.push({}, 3), 0, 0, 3, 3);

    // The queue times nothing on the producer's side (session::push does).
    for (const stage_latency & l : latencies.snapshot()) {
        CHECK(l.snapshot.count == 0);
    }
}

// The bound holds over the pending list too: a drained ring has room, the
// backlog has not.
TEST_CASE(record_queue_backlog_bound) {
    live_counters  counters;
    live_latencies latencies;
    record_queue   q(4, counters, latencies);
    q.set_window(8);
    CHECK(q.push(ohlcv_records(4), 1).pushed == 4);
    CHECK(q.drain(byte_tokens).moved == 4);
    CHECK(q.ring_size() == 0);
    CHECK(q.has_pending());
    const push_result r = q.push(ohlcv_records(3), 2);
    CHECK(r.pushed == 0);
    CHECK(r.dropped == 3);
    CHECK(r.queue_size == 4);
    CHECK(q.backlog() == 4);
    int32_t n_tokens = 0;
    CHECK(q.take_batch(1 << 20, n_tokens).size() == 4);
    counters.items_processed.fetch_add(4); // as the decode thread does after its batch
    CHECK(q.push(ohlcv_records(5), 3).pushed == 4);
    const session_counters c = counters.snapshot();
    CHECK(c.total_enqueued == 8);
    CHECK(c.total_dropped == 4);
}

// The accept hook hears of exactly what the push will accept, before any of
// it is queued; when it throws, the push changes nothing.
TEST_CASE(record_queue_accept_hook) {
    live_counters  counters;
    live_latencies latencies;
    record_queue   q(4, counters, latencies);
    q.set_window(8);
    std::vector<std::pair<int64_t, int64_t>> heard;
    const accept_hook note = [&](int64_t first_seq, int64_t count) {
        CHECK(q.backlog() == first_seq); // nothing of this push is queued yet
        heard.emplace_back(first_seq, count);
    };
    CHECK(q.push(ohlcv_records(3), 1, note).pushed == 3);
    CHECK(q.push(ohlcv_records(3), 2, note).pushed == 1); // room for one
    CHECK(q.push(ohlcv_records(2), 3, note).pushed == 0); // full: not called
    CHECK(heard.size() == 2);
    CHECK(heard[0] == std::make_pair(int64_t{0}, int64_t{3}));
    CHECK(heard[1] == std::make_pair(int64_t{3}, int64_t{1}));

    live_counters refusing_counters;
    record_queue  refusing(4, refusing_counters, latencies);
    const accept_hook fail = [](int64_t, int64_t) { throw std::runtime_error("disk full"); };
    CHECK_THROWS(refusing.push(ohlcv_records(2), 4, fail), std::runtime_error);
    const session_counters c = refusing_counters.snapshot();
    CHECK(refusing.backlog() == 0);
    CHECK(refusing.ring_size() == 0);
    CHECK(c.total_enqueued == 0);
    CHECK(c.total_dropped == 0);
}

// A record whose tokenization throws was popped: it is skipped, counted, the
// rest go on, and the backlog returns to zero once the others are decoded.
TEST_CASE(record_queue_tokenize_failure) {
    live_counters  counters;
    live_latencies latencies;
    record_queue   q(8, counters, latencies);
    q.set_window(8);
    CHECK(q.push(ohlcv_records(3), 1).pushed == 3);
    int calls = 0;
    const drain_result r = q.drain([&](const std::string & text) {
        if (++calls == 2) {
            throw std::runtime_error("tokenizer broke");
        }
        return byte_tokens(text);
    });
    CHECK(r.moved == 2);
    CHECK(r.failed == 1);
    CHECK(r.error == "tokenizer broke");
    CHECK(counters.snapshot().skipped == 1);
    CHECK(q.backlog() == 2);
    int32_t n_tokens = 0;
    CHECK(q.take_batch(1 << 20, n_tokens).size() == 2);
    counters.items_processed.fetch_add(2);
    CHECK(q.backlog() == 0);
}

} // namespace
} // namespace streaminfer_test
