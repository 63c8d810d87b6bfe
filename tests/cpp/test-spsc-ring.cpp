// Tests for streaminfer::spsc_ring, with the checks of check.h.
//
// Built twice (see CMakeLists.txt): plain -O2 and with -fsanitize=thread; the
// two-thread fuzz is what the TSan build is for.

#include "check.h"
#include "streaminfer/spsc-ring.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using streaminfer::spsc_ring;

namespace {

// Counts live instances; not default-constructible on purpose.
struct counted {
    static inline std::atomic<int64_t> live{ 0 };
    static inline std::atomic<int64_t> constructed{ 0 };

    explicit counted(int64_t v) : value(v) { ++live, ++constructed; }
    counted(const counted & o) : value(o.value) { ++live, ++constructed; }
    counted(counted && o) noexcept : value(o.value) { ++live, ++constructed; }
    counted & operator=(const counted &) = default;
    counted & operator=(counted &&) noexcept = default;
    ~counted() { --live; }

    int64_t value;
};

// Throws from its constructor when asked to.
struct throws_on_construct {
    explicit throws_on_construct(bool fail) {
        if (fail) {
            throw std::runtime_error("construct");
        }
    }
};

TEST_CASE(fifo_order) {
    spsc_ring<int> r(16);
    for (int i = 0; i < 10; ++i) {
        CHECK(r.try_push(i));
    }
    CHECK(r.size() == 10);
    for (int i = 0; i < 10; ++i) {
        int v = -1;
        CHECK(r.try_pop(v));
        CHECK(v == i);
    }
    CHECK(r.empty());
}

TEST_CASE(full_and_empty_edges) {
    spsc_ring<int> r(4);
    int            v = -1;
    CHECK(r.empty());
    CHECK(!r.try_pop(v));
    CHECK(v == -1);  // untouched on failure
    for (int i = 0; i < 4; ++i) {
        CHECK(r.try_push(i));
    }
    CHECK(r.size() == 4);
    CHECK(!r.try_push(99));  // full: every slot is usable, the 5th is refused
    CHECK(!r.try_emplace(99));
    CHECK(r.size() == 4);
    CHECK(r.try_pop(v) && v == 0);
    CHECK(r.try_push(4));  // one slot freed, one push fits
    CHECK(!r.try_push(5));
    for (int want = 1; want <= 4; ++want) {
        CHECK(r.try_pop(v) && v == want);
    }
    CHECK(!r.try_pop(v));
    CHECK(r.empty() && r.size() == 0);
}

TEST_CASE(wraparound) {
    // Capacity 8, 100k laps at varying fill levels; indices wrap the slot
    // array over and over.
    spsc_ring<uint32_t> r(8);
    uint32_t            next_in = 0, next_out = 0;
    for (int lap = 0; lap < 100000; ++lap) {
        const int n = 1 + lap % 8;
        for (int i = 0; i < n; ++i) {
            REQUIRE(r.try_push(next_in++));
        }
        REQUIRE(r.size() == size_t(n));
        for (int i = 0; i < n; ++i) {
            uint32_t v = 0;
            REQUIRE(r.try_pop(v));
            REQUIRE(v == next_out++);
        }
        REQUIRE(r.empty());
    }
    CHECK(next_out == 100000u / 8 * 36);  // 1+2+...+8 = 36 per 8 laps
}

TEST_CASE(capacity_rounding) {
    CHECK(spsc_ring<int>(1).capacity() == 1);
    CHECK(spsc_ring<int>(2).capacity() == 2);
    CHECK(spsc_ring<int>(3).capacity() == 4);
    CHECK(spsc_ring<int>(1000).capacity() == 1024);
    CHECK(spsc_ring<int>(1024).capacity() == 1024);
    CHECK(spsc_ring<int>(1025).capacity() == 2048);

    CHECK_THROWS(spsc_ring<int>(0), std::invalid_argument);
    CHECK_THROWS(spsc_ring<int>(SIZE_MAX / 2), std::invalid_argument);  // would overflow the byte count

    // Capacity 1 still works, rounded capacities are fully usable.
    spsc_ring<int> one(1);
    int            v = 0;
    CHECK(one.try_push(7) && !one.try_push(8));
    CHECK(one.try_pop(v) && v == 7 && !one.try_pop(v));
    spsc_ring<int> three(3);
    for (int i = 0; i < 4; ++i) {
        CHECK(three.try_push(i));
    }
    CHECK(!three.try_push(4));
}

TEST_CASE(move_only) {
    spsc_ring<std::unique_ptr<int>> r(4);
    auto                            p = std::make_unique<int>(42);
    CHECK(r.try_push(std::move(p)));
    CHECK(p == nullptr);
    CHECK(r.try_emplace(new int(43)));
    CHECK(r.try_emplace(std::make_unique<int>(44)));
    std::unique_ptr<int> out;
    CHECK(r.try_pop(out) && out && *out == 42);
    CHECK(r.try_pop(out) && out && *out == 43);
    // One left in the ring: the ring's destructor must free it (ASan/LSan
    // would report the leak; the counted test checks the same by counting).
}

TEST_CASE(lifetimes_no_leaks) {
    counted::live        = 0;
    counted::constructed = 0;
    {
        spsc_ring<counted> r(8);  // counted has no default constructor
        CHECK(counted::live == 0);  // storage is raw: nothing constructed up front
        for (int i = 0; i < 8; ++i) {
            CHECK(r.try_emplace(i));
        }
        CHECK(counted::live == 8);
        CHECK(!r.try_emplace(8));  // full: must not construct
        CHECK(counted::constructed == 8);

        const counted c(100);
        counted       out(-1);
        CHECK(counted::live == 10);
        for (int i = 0; i < 3; ++i) {
            CHECK(r.try_pop(out) && out.value == i);
        }
        CHECK(counted::live == 7);  // popped slots were destroyed
        CHECK(r.try_push(c));        // copy
        CHECK(r.try_push(counted(101)));  // move from a temporary
        CHECK(counted::live == 9);
        // 5 elements stay in the ring, across a wrap of the slot array.
    }
    CHECK(counted::live == 0);

    // Elements left behind after many wraps.
    counted::live = 0;
    {
        spsc_ring<counted> r(4);
        counted            out(0);
        for (int i = 0; i < 1001; ++i) {
            REQUIRE(r.try_emplace(i));
            if (i % 2 == 0) {
                REQUIRE(r.try_pop(out));
            }
            if (r.size() == 3) {
                REQUIRE(r.try_pop(out));
            }
        }
        CHECK(!r.empty());
    }
    CHECK(counted::live == 0);
}

TEST_CASE(throwing_constructor_leaves_ring_unchanged) {
    spsc_ring<throws_on_construct> r(2);
    CHECK(r.try_emplace(false));
    CHECK_THROWS(r.try_emplace(true), std::runtime_error);
    CHECK(r.size() == 1);
    CHECK(r.try_emplace(false));
    CHECK(!r.try_emplace(false));
}

// Payload whose two halves must agree: a torn or stale slot read shows up.
struct fuzz_item {
    uint64_t seq;
    uint64_t check;
};

constexpr uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

// One producer, one consumer, >= 10M items through a small ring so that both
// the full and the empty paths are hit constantly. The consumer checks order
// and payload as it goes; both sides keep a checksum, compared at the end.
TEST_CASE(two_thread_fuzz) {
    constexpr uint64_t n = 10'000'000;
    spsc_ring<fuzz_item> r(1024);
    uint64_t producer_sum = 0, consumer_sum = 0, misordered = 0, corrupt = 0, first_bad = UINT64_MAX;

    std::thread consumer([&] {
        fuzz_item it{};
        for (uint64_t want = 0; want < n;) {
            if (!r.try_pop(it)) {
                std::this_thread::yield();  // 2-core machines: let the producer run
                continue;
            }
            if (it.seq != want) {
                ++misordered;
                first_bad = first_bad == UINT64_MAX ? want : first_bad;
            }
            if (it.check != mix(it.seq)) {
                ++corrupt;
            }
            consumer_sum += mix(it.seq) ^ want;
            ++want;
        }
    });
    std::thread producer([&] {
        for (uint64_t i = 0; i < n;) {
            // Bursts of varying length keep the fill level moving.
            const uint64_t burst = 1 + mix(i) % 2048;
            for (uint64_t b = 0; b < burst && i < n; ++b) {
                if (!r.try_emplace(fuzz_item{ i, mix(i) })) {
                    std::this_thread::yield();
                    break;
                }
                producer_sum += mix(i) ^ i;
                ++i;
            }
        }
    });
    producer.join();
    consumer.join();

    if (misordered != 0) {
        std::fprintf(stderr, "fuzz: %llu items out of order, first at %llu\n", (unsigned long long) misordered,
                     (unsigned long long) first_bad);
    }
    CHECK(misordered == 0);
    CHECK(corrupt == 0);
    CHECK(producer_sum == consumer_sum);
    CHECK(r.empty());
}

// Same with a heap-owning element type: the move-out and destruction in the
// consumer race with construction in the producer if the orders are wrong.
TEST_CASE(two_thread_fuzz_strings) {
    constexpr int64_t n = 1'000'000;
    spsc_ring<std::string> r(64);
    int64_t bad = 0;

    std::thread consumer([&] {
        std::string s;
        for (int64_t want = 0; want < n;) {
            if (!r.try_pop(s)) {
                std::this_thread::yield();
                continue;
            }
            // Longer than the small-string buffer, so every item owns heap memory.
            if (s != "item-number-" + std::to_string(want) + "-with-a-long-tail") {
                ++bad;
            }
            ++want;
        }
    });
    for (int64_t i = 0; i < n;) {
        if (r.try_emplace("item-number-" + std::to_string(i) + "-with-a-long-tail")) {
            ++i;
        } else {
            std::this_thread::yield();
        }
    }
    consumer.join();
    CHECK(bad == 0);
}


}  // namespace

int main(int argc, char ** argv) {
    // Optional argument: run only the tests whose name contains it.
    return streaminfer_test::run_cases(streaminfer_test::registered_cases(), argc > 1 ? argv[1] : nullptr);
}
