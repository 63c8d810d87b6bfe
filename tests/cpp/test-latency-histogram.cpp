// The latency histogram (latency-histogram.h) and the stage list
// (latency-stages.h): the grid, where values land, the quantile estimate
// against values worked out by hand, and writers on several threads while
// a reader takes snapshots (the TSan build checks the last).

#include "latency-histogram.h"
#include "latency-stages.h"
#include "test-support.h"

#include <atomic>
#include <cstring>
#include <iterator>
#include <limits>
#include <thread>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

size_t index_of(int64_t bound) {
    for (size_t i = 0; i < LATENCY_N_BOUNDS; ++i) {
        if (LATENCY_BOUNDS_US[i] == bound) {
            return i;
        }
    }
    return LATENCY_N_BUCKETS; // not a bound
}

latency_snapshot observed(const std::vector<int64_t> & values) {
    latency_histogram h;
    for (int64_t v : values) {
        h.observe(v);
    }
    return h.snapshot();
}

TEST_CASE(latency_grid) {
    CHECK(LATENCY_N_BOUNDS == 71);
    CHECK(LATENCY_N_BUCKETS == 72);
    CHECK(LATENCY_BOUNDS_US.front() == 10);
    CHECK(LATENCY_BOUNDS_US.back() == 100000000);
    for (size_t i = 1; i < LATENCY_N_BOUNDS; ++i) {
        CHECK(LATENCY_BOUNDS_US[i] > LATENCY_BOUNDS_US[i - 1]);
    }
    // One decade, spelled out.
    const int64_t decade[] = {1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000};
    const size_t  first    = index_of(1000);
    REQUIRE(first < LATENCY_N_BOUNDS);
    for (size_t i = 0; i < std::size(decade); ++i) {
        CHECK(LATENCY_BOUNDS_US[first + i] == decade[i]);
    }
    // The server's Prometheus buckets (0.1 ms ... 60 s) are sums of these.
    for (int64_t le : {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
                       2500000, 5000000, 10000000, 25000000, 60000000}) {
        CHECK(index_of(le) < LATENCY_N_BOUNDS);
    }
}

TEST_CASE(latency_bucket_placement) {
    // Inclusive upper bounds: a bound's own value is in its bucket, one more is in the next.
    for (size_t i = 0; i < LATENCY_N_BOUNDS; ++i) {
        const int64_t bound = LATENCY_BOUNDS_US[i];
        CHECK(latency_bucket(bound) == i);
        CHECK(latency_bucket(bound + 1) == i + 1);
        CHECK(latency_bucket(bound - 1) == i); // bounds are at least 2 apart
    }
    CHECK(latency_bucket(0) == 0);
    CHECK(latency_bucket(-7) == 0);
    CHECK(latency_bucket(std::numeric_limits<int64_t>::min()) == 0);
    CHECK(latency_bucket(100000001) == LATENCY_N_BOUNDS); // overflow
    CHECK(latency_bucket(std::numeric_limits<int64_t>::max()) == LATENCY_N_BOUNDS);

    const latency_snapshot s = observed({0, 10, 11, 12, 13, 100000000, 100000001, 300000000, -5});
    CHECK(s.count == 9);
    CHECK(s.counts[0] == 3); // 0, 10 and the negative
    CHECK(s.counts[1] == 2); // 11, 12
    CHECK(s.counts[2] == 1); // 13
    CHECK(s.counts[LATENCY_N_BOUNDS - 1] == 1);
    CHECK(s.counts[LATENCY_N_BOUNDS] == 2);
    // The negative counts as 0 in the sum too.
    CHECK(s.sum_us == 0 + 10 + 11 + 12 + 13 + 100000000 + 100000001 + 300000000);
    int64_t total = 0;
    for (int64_t c : s.counts) {
        total += c;
    }
    CHECK(total == s.count);
}

TEST_CASE(latency_quantile_estimates) {
    const latency_snapshot empty;
    CHECK(latency_quantile(empty, 0.5) == 0.0);
    CHECK(latency_quantile(observed({}), 0.99) == 0.0);

    // One value in (10, 12]: interpolated across its bucket.
    const latency_snapshot one = observed({11});
    CHECK(near(latency_quantile(one, 0.5), 11.0));
    CHECK(near(latency_quantile(one, 1.0), 12.0));
    CHECK(near(latency_quantile(one, 0.0), 10.0)); // the lower edge of the first non-empty bucket

    // Four in [0, 10], six in (10, 12].
    const latency_snapshot two = observed({5, 5, 5, 5, 11, 11, 11, 11, 11, 11});
    CHECK(near(latency_quantile(two, 0.2), 5.0));                       // rank 2 of 4 in [0, 10]
    CHECK(near(latency_quantile(two, 0.4), 10.0));                      // rank 4: the bucket's top
    CHECK(near(latency_quantile(two, 0.5), 10.0 + 2.0 * (1.0 / 6.0)));  // rank 5: 1 of 6 in (10, 12]
    CHECK(near(latency_quantile(two, 0.99), 10.0 + 2.0 * (5.9 / 6.0))); // rank 9.9
    CHECK(near(latency_quantile(two, 1.0), 12.0));
    // q outside [0, 1] is clamped; NaN reads as 0.
    CHECK(near(latency_quantile(two, -1.0), latency_quantile(two, 0.0)));
    CHECK(near(latency_quantile(two, 2.0), 12.0));
    CHECK(near(latency_quantile(two, std::numeric_limits<double>::quiet_NaN()), 0.0));

    // Empty buckets between: the rank lands in (80000, 100000].
    const latency_snapshot gap = observed({1000, 100000});
    CHECK(near(latency_quantile(gap, 0.5), 1000.0)); // rank 1: the top of (800, 1000]
    CHECK(near(latency_quantile(gap, 0.75), 80000.0 + 20000.0 * 0.5));

    // Overflow: the last finite bound.
    const latency_snapshot over = observed({50, 200000000});
    CHECK(near(latency_quantile(over, 0.5), 50.0)); // rank 1 of 1 in (40, 50]
    CHECK(near(latency_quantile(over, 0.99), 100000000.0));
    CHECK(near(latency_quantile(observed({200000000}), 0.5), 100000000.0));
}

TEST_CASE(latency_concurrent_observe) {
    constexpr int     N_WRITERS = 4;
    constexpr int64_t N_EACH    = 20000;
    latency_histogram h;
    std::atomic<bool> go{false};
    std::atomic<int>  writing{N_WRITERS};
    std::vector<std::thread> writers;
    for (int w = 0; w < N_WRITERS; ++w) {
        writers.emplace_back([&h, &go, &writing, w] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            for (int64_t i = 0; i < N_EACH; ++i) {
                h.observe((i * 37 + w) % 200000); // spans many buckets
            }
            writing.fetch_sub(1);
        });
    }
    // Snapshots while the writers run: counts never go back, and each is
    // consistent with itself.
    latency_snapshot last;
    int64_t          rounds = 0;
    go.store(true);
    while (writing.load() > 0 || rounds == 0) {
        const latency_snapshot s = h.snapshot();
        int64_t total = 0;
        for (size_t b = 0; b < LATENCY_N_BUCKETS; ++b) {
            CHECK(s.counts[b] >= last.counts[b]);
            total += s.counts[b];
        }
        CHECK(total == s.count);
        CHECK(s.count <= N_WRITERS * N_EACH);
        const double p50 = latency_quantile(s, 0.5);
        const double p99 = latency_quantile(s, 0.99);
        CHECK(p50 >= 0.0 && p50 <= p99 && p99 <= 100000000.0);
        last = s;
        rounds += 1;
    }
    for (std::thread & t : writers) {
        t.join();
    }
    // Every observation is there, in the bucket and the sum.
    latency_histogram expected;
    int64_t           sum = 0;
    for (int w = 0; w < N_WRITERS; ++w) {
        for (int64_t i = 0; i < N_EACH; ++i) {
            expected.observe((i * 37 + w) % 200000);
            sum += (i * 37 + w) % 200000;
        }
    }
    const latency_snapshot s = h.snapshot();
    CHECK(s.count == N_WRITERS * N_EACH);
    CHECK(s.sum_us == sum);
    CHECK(s.counts == expected.snapshot().counts);
    CHECK(rounds > 0);
}

TEST_CASE(latency_stage_list) {
    const live_latencies              live;
    const std::vector<stage_latency> stages = live.snapshot();
    const char * const names[] = {"push",         "record_wait",  "tokenize",
                                  "decode_batch", "kv_shift",     "flash_prefill",
                                  "flash_answer", "fresh_answer", "generate_first_token",
                                  "generate_total"};
    REQUIRE(stages.size() == std::size(names));
    for (size_t i = 0; i < stages.size(); ++i) {
        CHECK(std::strcmp(stages[i].name, names[i]) == 0);
        CHECK(std::strlen(stages[i].description) > 0);
        CHECK(stages[i].snapshot.count == 0);
    }
}

} // namespace
} // namespace streaminfer_test
