// ring-bench: throughput and round-trip latency of streaminfer::spsc_ring,
// side by side with boost::lockfree::spsc_queue when its header is available.
//
//   ring-bench [items=100000000] [trips=1000000]
//
// Throughput: one producer pushes `items` ints, one consumer pops them; the
// time from the producer's first push to the consumer's last pop.
// Round trip: thread A pushes into ring 1, thread B pops it and pushes it back
// through ring 2, A pops it; `trips` trips timed in batches of 100, the
// reported figure is the median batch mean (the clock is read once a batch,
// so its cost stays out of the figure).
// The two threads are pinned to two different CPUs when the process may use
// two; both spin without yielding, so run it on an otherwise idle machine.

#include "streaminfer/spsc-ring.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#if __has_include(<boost/lockfree/spsc_queue.hpp>)
#    include <boost/lockfree/spsc_queue.hpp>
#    define RING_BENCH_HAVE_BOOST 1
#endif

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t ring_capacity = 1 << 16;
constexpr int64_t     trip_batch    = 100;

// Uniform push/pop over the queues under test.
struct ours {
    static constexpr const char * name = "streaminfer::spsc_ring";
    streaminfer::spsc_ring<int> q{ ring_capacity };

    bool push(int v) { return q.try_push(v); }

    bool pop(int & v) { return q.try_pop(v); }
};

#ifdef RING_BENCH_HAVE_BOOST
struct boost_spsc {
    static constexpr const char * name = "boost::lockfree::spsc_queue";
    boost::lockfree::spsc_queue<int> q{ ring_capacity };  // run-time capacity, like ours

    bool push(int v) { return q.push(v); }

    bool pop(int & v) { return q.pop(v); }
};
#endif

std::vector<int> g_cpus;  // the CPUs the two threads are pinned to (empty: not pinned)

void pin_to(std::size_t which) {
    if (which >= g_cpus.size()) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g_cpus[which], &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        std::fprintf(stderr, "warning: could not pin a thread to CPU %d\n", g_cpus[which]);
    }
}

// Runs a on pinned slot 0 and b on pinned slot 1, released together.
template <typename A, typename B> void run_pair(A && a, B && b) {
    std::atomic<int> ready{ 0 };
    auto             wrap = [&ready](std::size_t slot, auto & fn) {
        pin_to(slot);
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        fn();
    };
    std::thread tb([&] { wrap(1, b); });
    wrap(0, a);
    tb.join();
}

template <typename Q> double throughput(int64_t items) {
    Q                      q;
    clock_type::time_point start, stop;
    bool                   ok = true;
    run_pair(
        [&] {
            start = clock_type::now();
            for (int i = 0; i < items; ++i) {
                while (!q.push(i)) {
                }
            }
        },
        [&] {
            int v = 0;
            for (int i = 0; i < items; ++i) {
                while (!q.pop(v)) {
                }
                ok &= v == i;
            }
            stop = clock_type::now();
        });
    if (!ok) {
        std::fprintf(stderr, "%s: items out of order\n", Q::name);
        std::exit(1);
    }
    return double(items) / std::chrono::duration<double>(stop - start).count();
}

template <typename Q> double round_trip_ns(int64_t trips) {
    Q                   there, back;
    std::vector<double> batch_ns;
    batch_ns.reserve(std::size_t(trips / trip_batch));
    run_pair(
        [&] {
            int v = 0;
            for (int64_t b = 0; b < trips / trip_batch; ++b) {
                const auto t0 = clock_type::now();
                for (int i = 0; i < trip_batch; ++i) {
                    while (!there.push(i)) {
                    }
                    while (!back.pop(v)) {
                    }
                }
                const auto t1 = clock_type::now();
                batch_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / trip_batch);
            }
        },
        [&] {
            int v = 0;
            for (int64_t i = 0; i < trips / trip_batch * trip_batch; ++i) {
                while (!there.pop(v)) {
                }
                while (!back.push(v)) {
                }
            }
        });
    std::nth_element(batch_ns.begin(), batch_ns.begin() + batch_ns.size() / 2, batch_ns.end());
    return batch_ns[batch_ns.size() / 2];
}

template <typename Q> void measure(int64_t items, int64_t trips) {
    const double ips = throughput<Q>(items);
    const double rtt = round_trip_ns<Q>(trips);
    std::printf("%-30s %16.0f %22.1f\n", Q::name, ips, rtt);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char ** argv) {
    const int64_t items = argc > 1 ? std::atoll(argv[1]) : 100'000'000;
    const int64_t trips = argc > 2 ? std::atoll(argv[2]) : 1'000'000;
    if (items <= 0 || items > INT32_MAX || trips < trip_batch) {
        std::fprintf(stderr, "usage: %s [items (1..2^31-1)] [trips (>= %lld)]\n", argv[0], (long long) trip_batch);
        return 2;
    }

    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        for (int c = 0; c < CPU_SETSIZE && g_cpus.size() < 2; ++c) {
            if (CPU_ISSET(c, &allowed)) {
                g_cpus.push_back(c);
            }
        }
    }
    if (g_cpus.size() < 2) {
        g_cpus.clear();
        std::printf("# only one CPU available: threads not pinned\n");
    } else {
        std::printf("# producer on CPU %d, consumer on CPU %d\n", g_cpus[0], g_cpus[1]);
    }
    std::printf("# %lld items, %lld round trips, capacity %zu\n", (long long) items, (long long) trips, ring_capacity);
    std::printf("%-30s %16s %22s\n", "queue", "items/s", "round trip ns (median)");

    measure<ours>(items, trips);
#ifdef RING_BENCH_HAVE_BOOST
    measure<boost_spsc>(items, trips);
#else
    std::printf("# boost/lockfree/spsc_queue.hpp not found: boost comparison skipped\n");
#endif
    return 0;
}
