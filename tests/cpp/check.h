// The checks every C++ test uses, and the loop that runs test cases. No
// framework: a test case is a function; main prints "ok"/"FAIL" per case
// and a last line "N passed, M failed", and exits non-zero on any failure.
//
//   CHECK(cond)              any thread: on failure prints file:line and
//                            counts; the case goes on (later checks still
//                            say what else is wrong)
//   REQUIRE(cond)            the case's own thread: CHECK, then stops the
//                            case when going on makes no sense
//   CHECK_THROWS(expr, type) CHECK that `expr` throws `type`
//   TEST_CASE(name) { ... }  defines a case and adds it to registered_cases()
//                            (in definition order within a file)
//
// A case fails when the failure count grew while it ran, whatever thread
// the failing CHECK was on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <vector>

namespace streaminfer_test {

inline std::atomic<int64_t> g_failures{0};

inline void fail(const char * file, int line, const char * what, const char * expr) {
    std::fprintf(stderr, "%s:%d: %s(%s) failed\n", file, line, what, expr);
    g_failures.fetch_add(1);
}

// Thrown by REQUIRE; caught by run_cases.
struct require_failure {};

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct test_case {
    const char *          name;
    std::function<void()> fn;
};

// Function-local, so that registrations from any file's static
// initializers find it constructed.
inline std::vector<test_case> & registered_cases() {
    static std::vector<test_case> cases;
    return cases;
}

inline bool register_case(const char * name, void (*fn)()) {
    registered_cases().push_back({name, fn});
    return true;
}

// Runs the cases whose name contains `filter` (all when null), in order.
inline int run_cases(const std::vector<test_case> & cases, const char * filter = nullptr) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress lines interleave with stderr when piped
    int passed = 0, failed = 0;
    for (const test_case & tc : cases) {
        if (filter != nullptr && std::strstr(tc.name, filter) == nullptr) {
            continue;
        }
        const int64_t before = g_failures.load();
        const auto    t0     = clock_type::now();
        bool          ok     = true;
        try {
            tc.fn();
        } catch (const require_failure &) {
            ok = false;
        } catch (const std::exception & e) {
            std::fprintf(stderr, "%s: unexpected exception: %s\n", tc.name, e.what());
            ok = false;
        }
        ok = ok && g_failures.load() == before;
        std::printf("%s %s (%.2f s)\n", ok ? "ok  " : "FAIL", tc.name, seconds_since(t0));
        (ok ? passed : failed) += 1;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

} // namespace streaminfer_test

#define TEST_CASE(name)                                                                       \
    void                          test_##name();                                                \
    [[maybe_unused]] const bool   registered_##name =                                           \
        ::streaminfer_test::register_case(#name, test_##name);                                  \
    void                          test_##name()

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            ::streaminfer_test::fail(__FILE__, __LINE__, "CHECK", #cond);  \
        }                                                                  \
    } while (0)

#define REQUIRE(cond)                                                      \
    do {                                                                   \
        if (!(cond)) {                                                     \
            ::streaminfer_test::fail(__FILE__, __LINE__, "REQUIRE", #cond); \
            throw ::streaminfer_test::require_failure{};                   \
        }                                                                  \
    } while (0)

#define CHECK_THROWS(expr, type)                                                                          \
    do {                                                                                                  \
        bool thrown_ = false;                                                                             \
        try {                                                                                             \
            (void) (expr);                                                                                \
        } catch (const type &) {                                                                          \
            thrown_ = true;                                                                               \
        } catch (const std::exception & e_) {                                                             \
            std::fprintf(stderr, "%s:%d: %s threw another exception: %s\n", __FILE__, __LINE__, #expr,   \
                         e_.what());                                                                      \
        }                                                                                                 \
        if (!thrown_) {                                                                                   \
            ::streaminfer_test::fail(__FILE__, __LINE__, "CHECK_THROWS", #expr ", " #type);               \
        }                                                                                                 \
    } while (0)
