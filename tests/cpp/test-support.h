// What the engine test's files share: field_map access, records to feed
// the modules.
#pragma once

#include "check.h"
#include "event-queue.h"
#include "record-types.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace streaminfer_test {

using streaminfer::event_value;
using streaminfer::field_map;
using streaminfer::record;
using streaminfer::record_type;

// ---- field_map access (CHECKs, so usable on any thread) ----

template <typename T>
T get(const field_map & fm, const std::string & key) {
    for (const auto & [k, v] : fm) {
        if (k != key) {
            continue;
        }
        if (const T * p = std::get_if<T>(&v)) {
            return *p;
        }
        std::fprintf(stderr, "field %s has another type\n", key.c_str());
        g_failures.fetch_add(1);
        return T{};
    }
    std::fprintf(stderr, "field %s missing\n", key.c_str());
    g_failures.fetch_add(1);
    return T{};
}

inline int64_t     get_i(const field_map & fm, const std::string & key) { return get<int64_t>(fm, key); }
inline double      get_d(const field_map & fm, const std::string & key) { return get<double>(fm, key); }
inline std::string get_s(const field_map & fm, const std::string & key) { return get<std::string>(fm, key); }

inline bool near(double a, double b) { return std::fabs(a - b) < 1e-9 * std::max(1.0, std::fabs(b)); }

// ---- records ----

constexpr int64_t T0 = 1700000000; // 2023-11-14 22:13:20 UTC

inline record make_record(record_type type, std::array<double, 5> num, std::array<std::string, 2> str = {},
                          int64_t timestamp = -1) {
    record r;
    r.type = type;
    r.num  = num;
    r.str  = std::move(str);
    if (timestamp >= 0) {
        r.has_timestamp = true;
        r.timestamp     = timestamp;
    }
    return r;
}

inline std::vector<const record *> pointers(const std::vector<record> & rs) {
    std::vector<const record *> out;
    for (const record & r : rs) {
        out.push_back(&r);
    }
    return out;
}

// The engine on a real model (test-engine-scenario.cpp): after the module
// cases, which need none.
void run_engine_scenario(const std::string & model_path);
// The engine at its bounds and under faults (test-engine-faults.cpp).
void run_engine_faults(const std::string & model_path);

} // namespace streaminfer_test
