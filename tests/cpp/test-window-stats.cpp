// Window statistics (window-stats.h): the per-field ones the record table
// names and each type's derived ones, over hand-made windows.

#include "test-support.h"
#include "window-stats.h"

#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

void test_window_stats_ohlcv() {
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_OHLCV, {10, 11, 9, 10.5, 100}),
        make_record(RECORD_TYPE_OHLCV, {10.5, 13, 10, 12, 300}),
        make_record(RECORD_TYPE_OHLCV, {12, 12.5, 8, 9, 200}),
    };
    const field_map s = window_stats(RECORD_TYPE_OHLCV, pointers(rs));
    CHECK(get_s(s, "type") == "ohlcv");
    CHECK(get_i(s, "count") == 3);
    CHECK(get_d(s, "max_high") == 13);
    CHECK(get_i(s, "max_high_index") == 1);
    CHECK(get_d(s, "min_low") == 8);
    CHECK(get_i(s, "min_low_index") == 2);
    CHECK(get_d(s, "max_volume") == 300);
    CHECK(get_d(s, "first_open") == 10);
    CHECK(get_d(s, "last_close") == 9);
    CHECK(near(get_d(s, "avg_close"), 10.5));
    CHECK(near(get_d(s, "change"), -1));
    CHECK(near(get_d(s, "change_pct"), -10));

    const field_map empty = window_stats(RECORD_TYPE_OHLCV, {});
    CHECK(get_i(empty, "count") == 0);
    CHECK(get_d(empty, "avg_close") == 0.0);
    CHECK(get_d(empty, "change_pct") == 0.0); // no division by a zero first open
}

void test_window_stats_iot() {
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_IOT, {5, 0, 10, 0, 0}, {"s1", ""}),
        make_record(RECORD_TYPE_IOT, {11, 0, 10, 0, 0}, {"s2", ""}),  // above hi
        make_record(RECORD_TYPE_IOT, {-1, 0, 10, 0, 0}, {"s3", ""}),  // below lo
        make_record(RECORD_TYPE_IOT, {10, 0, 10, 0, 0}, {"s4", ""}),  // on the limit: no breach
    };
    const field_map s = window_stats(RECORD_TYPE_IOT, pointers(rs));
    CHECK(get_i(s, "threshold_breaches") == 2);
    CHECK(near(get_d(s, "breach_rate"), 0.5));
    CHECK(get_d(s, "min_value") == -1);
    CHECK(get_d(s, "max_value") == 11);
    CHECK(near(get_d(s, "avg_value"), 6.25));
    CHECK(get_s(s, "last_sensor") == "s4");
    CHECK(get_d(s, "last_value") == 10);
}

void test_window_stats_vitals() {
    // hr > 100 (T T F T F): 2 tachycardia episodes; hr < 60 once; spo2 < 90
    // (F T T F T): 2 hypoxia episodes; temp >= 38 (T F T T F): 2 fevers.
    const std::vector<record> rs = {
        make_record(RECORD_TYPE_VITALS, {110, 120, 80, 95, 38.0}),
        make_record(RECORD_TYPE_VITALS, {120, 125, 85, 85, 37.0}),
        make_record(RECORD_TYPE_VITALS, {80, 118, 78, 85, 38.5}),
        make_record(RECORD_TYPE_VITALS, {105, 121, 79, 95, 38.2}),
        make_record(RECORD_TYPE_VITALS, {50, 118, 76, 88, 36.0}),
    };
    const field_map s = window_stats(RECORD_TYPE_VITALS, pointers(rs));
    CHECK(get_i(s, "alerts.tachycardia_episodes") == 2);
    CHECK(get_i(s, "alerts.bradycardia_episodes") == 1);
    CHECK(get_i(s, "alerts.hypoxia_episodes") == 2);
    CHECK(get_i(s, "alerts.fever_episodes") == 2);
    CHECK(get_d(s, "min_spo2") == 85);
    CHECK(get_d(s, "max_temp") == 38.5);
    CHECK(get_d(s, "current.hr") == 50);
    CHECK(get_s(s, "current.bp") == "118/76");
    CHECK(near(get_d(s, "current.map"), (118.0 + 2 * 76.0) / 3.0));
    CHECK(near(get_d(s, "avg_heart_rate"), 93));
}

void test_window_stats_event_spatial() {
    const std::vector<record> ev = {
        make_record(RECORD_TYPE_EVENT, {4, 3, 0, 0, 0}, {"fw-01", "auth"}),
        make_record(RECORD_TYPE_EVENT, {2, 5, 0, 0, 0}, {"fw-02", "net"}),
        make_record(RECORD_TYPE_EVENT, {4, 1, 0, 0, 0}, {"fw-01", "auth"}),
    };
    const field_map e = window_stats(RECORD_TYPE_EVENT, pointers(ev));
    CHECK(get_i(e, "total_event_count") == 9);
    CHECK(get_i(e, "max_severity") == 4);
    CHECK(get_i(e, "critical_events") == 2);
    CHECK(get_i(e, "unique_sources") == 2);
    CHECK(get_i(e, "unique_categories") == 2);
    CHECK(get_s(e, "top_category") == "auth");
    CHECK(get_i(e, "top_category_count") == 2);

    // 3-4-5 triangle; heading 350 -> 10 is a 20 degree turn (across north) in 10 s.
    const std::vector<record> sp = {
        make_record(RECORD_TYPE_SPATIAL, {0, 0, 0, 5, 350}, {}, T0),
        make_record(RECORD_TYPE_SPATIAL, {3, 4, 0, 7, 10}, {}, T0 + 10),
    };
    const field_map s = window_stats(RECORD_TYPE_SPATIAL, pointers(sp));
    CHECK(near(get_d(s, "total_distance"), 5));
    CHECK(get_d(s, "max_speed") == 7);
    CHECK(near(get_d(s, "avg_speed"), 6));
    CHECK(near(get_d(s, "max_turn_rate"), 2));
    CHECK(get_d(s, "current_position.x") == 3);
    CHECK(get_d(s, "current_position.y") == 4);
    CHECK(get_d(s, "current_heading") == 10);
}

} // namespace

std::vector<test_case> window_stats_cases() {
    return {
        {"window_stats_ohlcv", test_window_stats_ohlcv},
        {"window_stats_iot", test_window_stats_iot},
        {"window_stats_vitals", test_window_stats_vitals},
        {"window_stats_event_spatial", test_window_stats_event_spatial},
    };
}

} // namespace streaminfer_test
