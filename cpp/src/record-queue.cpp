#include "record-queue.h"

#include "clock.h"
#include "record-format.h"

#include <algorithm>
#include <exception>

namespace streaminfer {

record_queue::record_queue(size_t capacity, live_counters & counters, live_latencies & latencies)
    : capacity_(std::max<size_t>(1, capacity)), ring_(capacity_), counters_(counters), latencies_(latencies) {}

push_result record_queue::push(std::vector<record> && records, int64_t accepted_us, const accept_hook & before_accept) {
    push_result r;
    // The room is read once: other threads only ever shrink the backlog (the
    // producer is the only one that grows it), so it can only be larger by
    // the time the records land; the ring, a part of the backlog, has room too.
    const auto n       = static_cast<int64_t>(records.size());
    const auto room    = std::max<int64_t>(0, static_cast<int64_t>(capacity_) - backlog());
    const auto n_offer = std::min(n, room);
    if (before_accept && n_offer > 0) {
        before_accept(counters_.total_enqueued.load(std::memory_order_relaxed), n_offer);
    }
    // Counted as enqueued before the ring publishes them (the release store
    // of its tail), so no reader ever sees a record processed or skipped that
    // is not yet counted as enqueued; any the ring refuses are taken back.
    const int64_t first_seq = counters_.total_enqueued.fetch_add(n_offer, std::memory_order_relaxed);
    for (int64_t i = 0; i < n_offer; ++i) {
        if (ring_.try_push(queued_record{std::move(records[static_cast<size_t>(i)]), accepted_us, first_seq + i})) {
            r.pushed += 1;
        }
    }
    const int64_t refused = n_offer - r.pushed;
    r.dropped        = static_cast<int32_t>(n - r.pushed);
    r.total_enqueued = counters_.total_enqueued.fetch_sub(refused, std::memory_order_relaxed) - refused;
    r.total_dropped  = counters_.total_dropped.fetch_add(r.dropped, std::memory_order_relaxed) + r.dropped;
    r.queue_size     = backlog();
    r.queue_capacity = static_cast<int64_t>(capacity_);
    return r;
}

drain_result record_queue::drain(const tokenize_fn & tokenize) {
    drain_result out;
    std::vector<tokenized_record> local;
    queued_record qr;
    const size_t in_ring = ring_.size();
    size_t n_skip = in_ring > window_ ? in_ring - window_ : 0;
    for (size_t i = 0; i < n_skip; ++i) {
        if (!ring_.try_pop(qr)) {
            n_skip = i;
            break;
        }
    }
    counters_.skipped.fetch_add(static_cast<int64_t>(n_skip), std::memory_order_release);
    while (local.size() < window_ && ring_.try_pop(qr)) {
        const int64_t    t0 = steady_us();
        tokenized_record tr;
        try {
            tr.text   = format_record(qr.rec);
            tr.tokens = tokenize(tr.text);
        } catch (const std::exception & e) {
            // Popped, so it must be accounted for here: skipped, and the
            // caller reports why.
            counters_.skipped.fetch_add(1, std::memory_order_release);
            if (out.failed++ == 0) {
                out.error = e.what();
            }
            continue;
        }
        tr.rec         = std::move(qr.rec);
        tr.accepted_us = qr.accepted_us;
        tr.seq         = qr.seq;
        const int64_t t1 = steady_us();
        latencies_.tokenize.observe(t1 - t0);
        latencies_.record_wait.observe(t1 - qr.accepted_us);
        local.push_back(std::move(tr));
    }
    if (!local.empty()) {
        std::lock_guard<std::mutex> lock(pending_mu_);
        for (tokenized_record & tr : local) {
            pending_.push_back(std::move(tr));
        }
    }
    counters_.tokenized.fetch_add(static_cast<int64_t>(local.size()), std::memory_order_relaxed);
    out.moved = local.size() + n_skip;
    return out;
}

bool record_queue::has_pending() const {
    std::lock_guard<std::mutex> lock(pending_mu_);
    return !pending_.empty();
}

std::vector<tokenized_record> record_queue::take_batch(int32_t n_batch, int32_t & n_tokens) {
    std::vector<tokenized_record> batch;
    n_tokens = 0;
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (pending_.size() > window_) {
        const size_t n_skip = pending_.size() - window_;
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n_skip));
        counters_.skipped.fetch_add(static_cast<int64_t>(n_skip), std::memory_order_release);
    }
    while (!pending_.empty()) {
        const int32_t n = static_cast<int32_t>(pending_.front().tokens.size());
        if (!batch.empty() && n_tokens + n > n_batch) {
            break;
        }
        n_tokens += n;
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
    }
    return batch;
}

int64_t record_queue::backlog() const {
    // Done first, then accepted: acquire pairs with the release increments of
    // items_processed and skipped, which come after the records' pop from
    // the ring, which comes after their count in total_enqueued. So the
    // difference is never negative; it covers the ring, the tokenizer, the
    // pending list and the batch being decoded.
    const int64_t done = counters_.items_processed.load(std::memory_order_acquire) +
                         counters_.skipped.load(std::memory_order_acquire);
    return counters_.total_enqueued.load(std::memory_order_relaxed) - done;
}

} // namespace streaminfer
