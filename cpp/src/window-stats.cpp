#include "window-stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace streaminfer {

namespace {

using field_map = std::vector<std::pair<std::string, event_value>>;
using recs      = std::vector<const record *>;

int64_t as_int(double v) { return static_cast<int64_t>(std::llround(v)); }

void ohlcv(field_map & out, const recs & r) {
    double max_high = 0, min_low = 0, max_volume = 0, sum_close = 0;
    int64_t max_high_index = 0, min_low_index = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const auto & n = r[i]->num; // o h l c v
        if (i == 0 || n[1] > max_high) { max_high = n[1]; max_high_index = static_cast<int64_t>(i); }
        if (i == 0 || n[2] < min_low)  { min_low = n[2];  min_low_index = static_cast<int64_t>(i); }
        if (i == 0 || n[4] > max_volume) { max_volume = n[4]; }
        sum_close += n[3];
    }
    const double first_open = r.empty() ? 0.0 : r.front()->num[0];
    const double last_close = r.empty() ? 0.0 : r.back()->num[3];
    const double change     = last_close - first_open;
    out.insert(out.end(), {
        {"max_high", max_high}, {"max_high_index", max_high_index},
        {"min_low", min_low}, {"min_low_index", min_low_index},
        {"max_volume", max_volume}, {"first_open", first_open}, {"last_close", last_close},
        {"avg_close", r.empty() ? 0.0 : sum_close / static_cast<double>(r.size())},
        {"change", change}, {"change_pct", first_open != 0.0 ? 100.0 * change / first_open : 0.0},
    });
}

// A value outside [lo, hi] is a threshold breach.
void iot(field_map & out, const recs & r) {
    double min_v = 0, max_v = 0, sum = 0;
    int64_t breaches = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const auto & n = r[i]->num; // val lo hi
        min_v = i == 0 ? n[0] : std::min(min_v, n[0]);
        max_v = i == 0 ? n[0] : std::max(max_v, n[0]);
        sum += n[0];
        breaches += (n[0] < n[1] || n[0] > n[2]) ? 1 : 0;
    }
    out.insert(out.end(), {
        {"last_sensor", r.empty() ? std::string() : r.back()->str[0]},
        {"last_value", r.empty() ? 0.0 : r.back()->num[0]},
        {"min_value", min_v}, {"max_value", max_v},
        {"avg_value", r.empty() ? 0.0 : sum / static_cast<double>(r.size())},
        {"threshold_breaches", breaches},
        {"breach_rate", r.empty() ? 0.0 : static_cast<double>(breaches) / static_cast<double>(r.size())},
    });
}

// Turn rate: the smallest heading change between consecutive records, in
// degrees per second when both carry timestamps, else per record.
void spatial(field_map & out, const recs & r) {
    double distance = 0, max_speed = 0, sum_speed = 0, max_turn = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const auto & n = r[i]->num; // x y z spd hdg
        max_speed = i == 0 ? n[3] : std::max(max_speed, n[3]);
        sum_speed += n[3];
        if (i > 0) {
            const auto & p = r[i - 1]->num;
            distance += std::sqrt((n[0] - p[0]) * (n[0] - p[0]) + (n[1] - p[1]) * (n[1] - p[1]) + (n[2] - p[2]) * (n[2] - p[2]));
            double turn = std::fabs(n[4] - p[4]);
            turn = std::min(turn, 360.0 - turn);
            if (r[i]->has_timestamp && r[i - 1]->has_timestamp && r[i]->timestamp > r[i - 1]->timestamp) {
                turn /= static_cast<double>(r[i]->timestamp - r[i - 1]->timestamp);
            }
            max_turn = std::max(max_turn, turn);
        }
    }
    const record * last = r.empty() ? nullptr : r.back();
    out.insert(out.end(), {
        {"current_position.x", last ? last->num[0] : 0.0},
        {"current_position.y", last ? last->num[1] : 0.0},
        {"current_position.z", last ? last->num[2] : 0.0},
        {"current_speed", last ? last->num[3] : 0.0},
        {"current_heading", last ? last->num[4] : 0.0},
        {"total_distance", distance}, {"max_speed", max_speed},
        {"avg_speed", r.empty() ? 0.0 : sum_speed / static_cast<double>(r.size())},
        {"max_turn_rate", max_turn},
    });
}

// Critical: severity 4 (the top of the 0..4 scale).
void events(field_map & out, const recs & r) {
    int64_t total = 0, max_sev = 0, critical = 0;
    std::set<std::string> sources;
    std::map<std::string, int64_t> categories;
    for (const record * rec : r) {
        const int64_t sev = as_int(rec->num[0]);
        total += as_int(rec->num[1]);
        max_sev = std::max(max_sev, sev);
        critical += sev >= 4 ? 1 : 0;
        sources.insert(rec->str[0]);
        categories[rec->str[1]] += 1;
    }
    std::string top;
    int64_t top_count = 0;
    for (const auto & [cat, count] : categories) {
        if (count > top_count) { top = cat; top_count = count; }
    }
    out.insert(out.end(), {
        {"total_event_count", total}, {"max_severity", max_sev}, {"critical_events", critical},
        {"unique_sources", static_cast<int64_t>(sources.size())},
        {"unique_categories", static_cast<int64_t>(categories.size())},
        {"top_category", top}, {"top_category_count", top_count},
    });
}

// Episodes are runs of consecutive records in a condition: tachycardia
// hr > 100, bradycardia hr < 60, hypoxia spo2 < 90, fever temp >= 38.0.
void vitals(field_map & out, const recs & r) {
    double sum_hr = 0, sum_map = 0, min_spo2 = 0, max_temp = 0;
    int64_t episodes[4] = {0, 0, 0, 0};
    bool    prev[4]     = {false, false, false, false};
    for (size_t i = 0; i < r.size(); ++i) {
        const auto & n = r[i]->num; // hr bp_s bp_d spo2 temp
        sum_hr += n[0];
        sum_map += (n[1] + 2.0 * n[2]) / 3.0;
        min_spo2 = i == 0 ? n[3] : std::min(min_spo2, n[3]);
        max_temp = i == 0 ? n[4] : std::max(max_temp, n[4]);
        const bool now[4] = {n[0] > 100.0, n[0] < 60.0, n[3] < 90.0, n[4] >= 38.0};
        for (int k = 0; k < 4; ++k) {
            episodes[k] += (now[k] && !prev[k]) ? 1 : 0;
            prev[k] = now[k];
        }
    }
    const record * last = r.empty() ? nullptr : r.back();
    const double cnt = static_cast<double>(r.size());
    out.insert(out.end(), {
        {"current.hr", last ? last->num[0] : 0.0},
        {"current.bp", last ? format_number(last->num[1]) + "/" + format_number(last->num[2]) : std::string()},
        {"current.spo2", last ? last->num[3] : 0.0},
        {"current.temp", last ? last->num[4] : 0.0},
        {"current.map", last ? (last->num[1] + 2.0 * last->num[2]) / 3.0 : 0.0},
        {"avg_heart_rate", r.empty() ? 0.0 : sum_hr / cnt},
        {"avg_map", r.empty() ? 0.0 : sum_map / cnt},
        {"min_spo2", min_spo2}, {"max_temp", max_temp},
        {"alerts.tachycardia_episodes", episodes[0]}, {"alerts.bradycardia_episodes", episodes[1]},
        {"alerts.hypoxia_episodes", episodes[2]}, {"alerts.fever_episodes", episodes[3]},
    });
}

} // namespace

field_map window_stats(record_type type, const recs & records) {
    field_map out = {{"type", std::string(record_type_name(type))},
                     {"count", static_cast<int64_t>(records.size())}};
    switch (type) {
        case RECORD_TYPE_OHLCV:   ohlcv(out, records); break;
        case RECORD_TYPE_IOT:     iot(out, records); break;
        case RECORD_TYPE_SPATIAL: spatial(out, records); break;
        case RECORD_TYPE_EVENT:   events(out, records); break;
        case RECORD_TYPE_VITALS:  vitals(out, records); break;
        case RECORD_TYPE_COUNT:   break;
    }
    return out;
}

} // namespace streaminfer
