// Window statistics (window-stats.h): the per-field ones the record table
// names and each type's derived ones, over hand-made windows.

#include "core-limits.h"
#include "test-support.h"
#include "window-stats.h"

#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

using I = int64_t;

// Each expected key's value: doubles compare with near(), the rest exactly.
void expect(const field_map & got, const field_map & want) {
    for (const auto & [key, value] : want) {
        bool ok = false;
        if (const double * d = std::get_if<double>(&value)) {
            ok = near(get_d(got, key), *d);
        } else if (const int64_t * i = std::get_if<int64_t>(&value)) {
            ok = get_i(got, key) == *i;
        } else if (const std::string * s = std::get_if<std::string>(&value)) {
            ok = get_s(got, key) == *s;
        }
        if (!ok) {
            std::fprintf(stderr, "window stats: %s is not as expected\n", key.c_str());
            g_failures.fetch_add(1);
        }
    }
}

TEST_CASE(window_stats_ohlcv) {
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_OHLCV, {10, 11, 9, 10.5, 100}),
        make_record(RECORD_TYPE_OHLCV, {10.5, 13, 10, 12, 300}),
        make_record(RECORD_TYPE_OHLCV, {12, 12.5, 8, 9, 200}),
    };
    expect(window_stats(RECORD_TYPE_OHLCV, pointers(rs)),
           {{"type", std::string("ohlcv")}, {"count", I{3}},
            {"max_high", 13.0}, {"max_high_index", I{1}}, {"min_low", 8.0}, {"min_low_index", I{2}},
            {"max_volume", 300.0}, {"first_open", 10.0}, {"last_close", 9.0}, {"avg_close", 10.5},
            {"change", -1.0}, {"change_pct", -10.0}});
    // No division by a zero first open.
    expect(window_stats(RECORD_TYPE_OHLCV, {}), {{"count", I{0}}, {"avg_close", 0.0}, {"change_pct", 0.0}});
}

TEST_CASE(window_stats_iot) {
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_IOT, {5, 0, 10, 0, 0}, {"s1", ""}),
        make_record(RECORD_TYPE_IOT, {11, 0, 10, 0, 0}, {"s2", ""}),  // above hi
        make_record(RECORD_TYPE_IOT, {-1, 0, 10, 0, 0}, {"s3", ""}),  // below lo
        make_record(RECORD_TYPE_IOT, {10, 0, 10, 0, 0}, {"s4", ""}),  // on the limit: no breach
    };
    expect(window_stats(RECORD_TYPE_IOT, pointers(rs)),
           {{"threshold_breaches", I{2}}, {"breach_rate", 0.5},
            {"min_value", -1.0}, {"max_value", 11.0}, {"avg_value", 6.25},
            {"last_sensor", std::string("s4")}, {"last_value", 10.0}});
}

TEST_CASE(window_stats_vitals) {
    // hr > 100 (T T F T F): 2 tachycardia episodes; hr < 60 once; spo2 < 90
    // (F T T F T): 2 hypoxia episodes; temp >= 38 (T F T T F): 2 fevers.
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_VITALS, {110, 120, 80, 95, 38.0}),
        make_record(RECORD_TYPE_VITALS, {120, 125, 85, 85, 37.0}),
        make_record(RECORD_TYPE_VITALS, {80, 118, 78, 85, 38.5}),
        make_record(RECORD_TYPE_VITALS, {105, 121, 79, 95, 38.2}),
        make_record(RECORD_TYPE_VITALS, {50, 118, 76, 88, 36.0}),
    };
    expect(window_stats(RECORD_TYPE_VITALS, pointers(rs)),
           {{"alerts.tachycardia_episodes", I{2}}, {"alerts.bradycardia_episodes", I{1}},
            {"alerts.hypoxia_episodes", I{2}}, {"alerts.fever_episodes", I{2}},
            {"min_spo2", 85.0}, {"max_temp", 38.5}, {"current.hr", 50.0}, {"current.bp", std::string("118/76")},
            {"current.map", (118.0 + 2 * 76.0) / 3.0}, {"avg_heart_rate", 93.0}});
}

TEST_CASE(window_stats_event_spatial) {
    const std::vector<record> ev = {
        make_record(RECORD_TYPE_EVENT, {4, 3, 0, 0, 0}, {"fw-01", "auth"}),
        make_record(RECORD_TYPE_EVENT, {2, 5, 0, 0, 0}, {"fw-02", "net"}),
        make_record(RECORD_TYPE_EVENT, {4, 1, 0, 0, 0}, {"fw-01", "auth"}),
    };
    expect(window_stats(RECORD_TYPE_EVENT, pointers(ev)),
           {{"total_event_count", I{9}}, {"max_severity", I{4}}, {"critical_events", I{2}},
            {"unique_sources", I{2}}, {"unique_categories", I{2}},
            {"top_category", std::string("auth")}, {"top_category_count", I{2}}});

    // 3-4-5 triangle; heading 350 -> 10 is a 20 degree turn (across north) in 10 s.
    const std::vector<record> sp = {
        make_record(RECORD_TYPE_SPATIAL, {0, 0, 0, 5, 350}, {}, T0),
        make_record(RECORD_TYPE_SPATIAL, {3, 4, 0, 7, 10}, {}, T0 + 10),
    };
    expect(window_stats(RECORD_TYPE_SPATIAL, pointers(sp)),
           {{"total_distance", 5.0}, {"max_speed", 7.0}, {"avg_speed", 6.0}, {"max_turn_rate", 2.0},
            {"current_position.x", 3.0}, {"current_position.y", 4.0}, {"current_heading", 10.0}});
}

// A full window of the largest counts sums exactly (below 2^53).
TEST_CASE(window_stats_largest_counts) {
    const std::vector<record> ev(static_cast<size_t>(MAX_WINDOW_RECORDS),
                                 make_record(RECORD_TYPE_EVENT, {1, static_cast<double>(MAX_COUNT), 0, 0, 0},
                                             {"fw-01", "auth"}));
    const field_map got = window_stats(RECORD_TYPE_EVENT, pointers(ev));
    CHECK(get_i(got, "total_event_count") == MAX_COUNT * MAX_WINDOW_RECORDS);
    CHECK(MAX_COUNT * MAX_WINDOW_RECORDS < (int64_t{1} << 53));
}

} // namespace
} // namespace streaminfer_test
