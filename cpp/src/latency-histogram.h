// A latency histogram on one fixed grid of microsecond buckets, the same for
// every stage of every session, so that any two can be added bucket by
// bucket and the server can export Prometheus histograms without keeping
// samples.
//
// The grid: 10, 12, 15, 20, 25, 30, 40, 50, 60, 80 times every power of ten
// from 1 (10 us) to 10^6, then 100 s: 71 finite bounds, then the overflow
// bucket (+Inf). Each bound is an inclusive upper bound, as Prometheus's
// `le`: a value goes into the first bucket whose bound is >= the value. The
// 1-2.5-5 steps of every decade are bounds (and 60 s), so the usual coarser
// Prometheus buckets (0.1 ms ... 60 s) are sums of these.
//
// Threads: observe() from any number of threads at once, snapshot() from
// any thread while they write. Every access is a relaxed atomic: a snapshot
// taken during writes may hold an observation's bucket without its sum (or
// the reverse), never a torn value, and its count is always the sum of its
// buckets.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace streaminfer {

constexpr std::array<int64_t, 10> LATENCY_STEPS = {10, 12, 15, 20, 25, 30, 40, 50, 60, 80};
constexpr int32_t LATENCY_N_DECADES = 7;                                // 10 us ... 80 s
constexpr size_t  LATENCY_N_BOUNDS  = LATENCY_STEPS.size() * LATENCY_N_DECADES + 1; // + 100 s
constexpr size_t  LATENCY_N_BUCKETS = LATENCY_N_BOUNDS + 1;             // + overflow

namespace detail {
constexpr std::array<int64_t, LATENCY_N_BOUNDS> make_latency_bounds() {
    std::array<int64_t, LATENCY_N_BOUNDS> bounds{};
    int64_t scale = 1;
    size_t  i     = 0;
    for (int32_t d = 0; d < LATENCY_N_DECADES; ++d, scale *= 10) {
        for (int64_t step : LATENCY_STEPS) {
            bounds[i++] = step * scale;
        }
    }
    bounds[i] = 10 * scale;
    return bounds;
}
} // namespace detail

// [LATENCY_N_BOUNDS] the finite inclusive upper bounds, microseconds, ascending.
constexpr std::array<int64_t, LATENCY_N_BOUNDS> LATENCY_BOUNDS_US = detail::make_latency_bounds();
static_assert(LATENCY_BOUNDS_US.front() == 10 && LATENCY_BOUNDS_US.back() == 100000000);

// The bucket a value goes into: the first with value <= bound,
// LATENCY_N_BOUNDS (the overflow bucket) past the last bound. Negative values
// count as 0.
size_t latency_bucket(int64_t us);

struct latency_snapshot {
    std::array<int64_t, LATENCY_N_BUCKETS> counts{}; // [LATENCY_N_BUCKETS] per bucket, not cumulative; last: overflow
    int64_t count  = 0;                               // the sum of counts
    int64_t sum_us = 0;                               // of the observed values (negatives as 0)
};

// Prometheus's histogram_quantile over one snapshot, in microseconds: the
// bucket holding rank q * count, then linear interpolation between its lower
// edge (0 for the first bucket) and its bound. In the overflow bucket, the
// last finite bound. q is clamped to [0, 1]; q = 0 gives the lower edge of
// the first non-empty bucket. 0 when the snapshot is empty.
double latency_quantile(const latency_snapshot & s, double q);

class latency_histogram {
public:
    latency_histogram() = default;
    latency_histogram(const latency_histogram &) = delete;
    latency_histogram & operator=(const latency_histogram &) = delete;

    // Any thread; lock-free, two relaxed increments.
    void observe(int64_t us) {
        us = us < 0 ? 0 : us;
        buckets_[latency_bucket(us)].fetch_add(1, std::memory_order_relaxed);
        sum_us_.fetch_add(us, std::memory_order_relaxed);
    }

    // Any thread, also while others observe.
    latency_snapshot snapshot() const;

private:
    // The count is not kept apart: the buckets' sum is the count, so a
    // snapshot's count always equals its cumulative +Inf bucket, as
    // Prometheus requires, and observe() saves an atomic.
    std::array<std::atomic<int64_t>, LATENCY_N_BUCKETS> buckets_{};
    std::atomic<int64_t>                                 sum_us_{0};
};

} // namespace streaminfer
