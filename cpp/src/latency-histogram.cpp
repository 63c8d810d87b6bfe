#include "latency-histogram.h"

#include <algorithm>

namespace streaminfer {

size_t latency_bucket(int64_t us) {
    // lower_bound: the first bound >= us, which is the `le` rule.
    const auto it = std::lower_bound(LATENCY_BOUNDS_US.begin(), LATENCY_BOUNDS_US.end(), std::max<int64_t>(us, 0));
    return static_cast<size_t>(it - LATENCY_BOUNDS_US.begin());
}

latency_snapshot latency_histogram::snapshot() const {
    latency_snapshot s;
    for (size_t i = 0; i < LATENCY_N_BUCKETS; ++i) {
        s.counts[i] = buckets_[i].load(std::memory_order_relaxed);
        s.count += s.counts[i];
    }
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    return s;
}

double latency_quantile(const latency_snapshot & s, double q) {
    if (s.count <= 0) {
        return 0.0;
    }
    q = q > 0.0 ? std::min(q, 1.0) : 0.0; // NaN as 0
    const double rank = q * static_cast<double>(s.count);
    // The first non-empty bucket whose cumulative count reaches the rank. For
    // rank > 0 that is Prometheus's choice; at rank 0 it skips empty leading
    // buckets, where Prometheus would divide 0 by 0.
    int64_t below = 0; // observations in the buckets before b
    size_t  b     = 0;
    for (; b < LATENCY_N_BOUNDS; ++b) {
        if (s.counts[b] > 0 && static_cast<double>(below + s.counts[b]) >= rank) {
            break;
        }
        below += s.counts[b];
    }
    if (b == LATENCY_N_BOUNDS) {
        return static_cast<double>(LATENCY_BOUNDS_US.back());
    }
    const double lower = b == 0 ? 0.0 : static_cast<double>(LATENCY_BOUNDS_US[b - 1]);
    const double upper = static_cast<double>(LATENCY_BOUNDS_US[b]);
    return lower + (upper - lower) * ((rank - static_cast<double>(below)) / static_cast<double>(s.counts[b]));
}

} // namespace streaminfer
