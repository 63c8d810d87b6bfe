#include "window-stats.h"

#include "record-format.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace streaminfer {

namespace {

using recs = std::vector<const record *>;

// Integer fields hold whole numbers within MAX_COUNT, and a window at most
// MAX_WINDOW_RECORDS of them: their sums stay below 2^53, exact in a double,
// so the cast is exact too.
event_value number(const field_spec & f, double v) {
    return f.kind == FIELD_KIND_INT ? event_value(static_cast<int64_t>(v)) : event_value(v);
}

event_value text_stat(stat_kind kind, const field_spec & f, const recs & r) {
    const auto slot = static_cast<size_t>(f.slot);
    if (kind == STAT_FIRST || kind == STAT_LAST) { // no counting needed
        if (r.empty()) {
            return std::string();
        }
        return (kind == STAT_FIRST ? r.front() : r.back())->str[slot];
    }
    std::map<std::string, int64_t> counts;
    for (const record * rec : r) {
        counts[rec->str[slot]] += 1;
    }
    std::string mode;
    int64_t     mode_count = 0;
    for (const auto & [value, count] : counts) {
        if (count > mode_count) {
            mode       = value;
            mode_count = count;
        }
    }
    switch (kind) {
        case STAT_DISTINCT:   return static_cast<int64_t>(counts.size());
        case STAT_MODE:       return mode;
        case STAT_MODE_COUNT: return mode_count;
        default:              return std::string();
    }
}

// Over an empty window every statistic is 0 (or "").
event_value numeric_stat(stat_kind kind, const field_spec & f, const recs & r) {
    const auto slot = static_cast<size_t>(f.slot);
    if (r.empty()) {
        switch (kind) {
            case STAT_MEAN:   return 0.0;
            case STAT_ARGMIN:
            case STAT_ARGMAX: return int64_t{0};
            default:          return number(f, 0.0);
        }
    }
    size_t arg_min = 0;
    size_t arg_max = 0;
    double sum     = 0.0;
    for (size_t i = 0; i < r.size(); ++i) {
        const double v = r[i]->num[slot];
        arg_min = v < r[arg_min]->num[slot] ? i : arg_min;
        arg_max = v > r[arg_max]->num[slot] ? i : arg_max;
        sum += v;
    }
    switch (kind) {
        case STAT_FIRST:  return number(f, r.front()->num[slot]);
        case STAT_LAST:   return number(f, r.back()->num[slot]);
        case STAT_MIN:    return number(f, r[arg_min]->num[slot]);
        case STAT_MAX:    return number(f, r[arg_max]->num[slot]);
        case STAT_ARGMIN: return static_cast<int64_t>(arg_min);
        case STAT_ARGMAX: return static_cast<int64_t>(arg_max);
        case STAT_MEAN:   return sum / static_cast<double>(r.size());
        case STAT_SUM:    return number(f, sum);
        default:          return number(f, 0.0);
    }
}

double mean_of(const recs & r, double (*value)(const record &)) {
    double sum = 0.0;
    for (const record * rec : r) {
        sum += value(*rec);
    }
    return r.empty() ? 0.0 : sum / static_cast<double>(r.size());
}

// ---- each type's derived statistics ----

void ohlcv(field_map & out, const recs & r) {
    const double first_open = r.empty() ? 0.0 : r.front()->num[0];
    const double change     = r.empty() ? 0.0 : r.back()->num[3] - first_open;
    out.insert(out.end(), {{"change", change}, {"change_pct", first_open != 0.0 ? 100.0 * change / first_open : 0.0}});
}

// A value outside [lo, hi] is a threshold breach.
void iot(field_map & out, const recs & r) {
    int64_t breaches = 0;
    for (const record * rec : r) {
        breaches += (rec->num[0] < rec->num[1] || rec->num[0] > rec->num[2]) ? 1 : 0;
    }
    out.insert(out.end(), {{"threshold_breaches", breaches},
                           {"breach_rate", r.empty() ? 0.0 : static_cast<double>(breaches) / static_cast<double>(r.size())}});
}

// Turn rate: the smallest heading change between consecutive records, in
// degrees per second when both carry timestamps, else per record.
void spatial(field_map & out, const recs & r) {
    double distance = 0.0;
    double max_turn = 0.0;
    for (size_t i = 1; i < r.size(); ++i) {
        const auto & n = r[i]->num; // x y z spd hdg
        const auto & p = r[i - 1]->num;
        distance += std::sqrt((n[0] - p[0]) * (n[0] - p[0]) + (n[1] - p[1]) * (n[1] - p[1]) + (n[2] - p[2]) * (n[2] - p[2]));
        double turn = std::fabs(n[4] - p[4]);
        turn = std::min(turn, 360.0 - turn);
        if (r[i]->has_timestamp && r[i - 1]->has_timestamp && r[i]->timestamp > r[i - 1]->timestamp) {
            turn /= static_cast<double>(r[i]->timestamp - r[i - 1]->timestamp);
        }
        max_turn = std::max(max_turn, turn);
    }
    out.insert(out.end(), {{"total_distance", distance}, {"max_turn_rate", max_turn}});
}

// Critical: severity 4 (the top of the 0..4 scale).
void events(field_map & out, const recs & r) {
    const auto critical = std::count_if(r.begin(), r.end(), [](const record * rec) { return rec->num[0] >= 4.0; });
    out.emplace_back("critical_events", static_cast<int64_t>(critical));
}

// Mean arterial pressure, from systolic and diastolic.
double map_of(const record & rec) { return (rec.num[1] + 2.0 * rec.num[2]) / 3.0; }

// Episodes are runs of consecutive records in a condition: tachycardia
// hr > 100, bradycardia hr < 60, hypoxia spo2 < 90, fever temp >= 38.0.
void vitals(field_map & out, const recs & r) {
    int64_t episodes[4] = {0, 0, 0, 0};
    bool    prev[4]     = {false, false, false, false};
    for (const record * rec : r) {
        const auto & n = rec->num; // hr bp_s bp_d spo2 temp
        const bool now[4] = {n[0] > 100.0, n[0] < 60.0, n[3] < 90.0, n[4] >= 38.0};
        for (int k = 0; k < 4; ++k) {
            episodes[k] += (now[k] && !prev[k]) ? 1 : 0;
            prev[k] = now[k];
        }
    }
    const record * last = r.empty() ? nullptr : r.back();
    out.insert(out.end(), {
        {"current.bp", last ? format_number(last->num[1]) + "/" + format_number(last->num[2]) : std::string()},
        {"current.map", last ? map_of(*last) : 0.0},
        {"avg_map", mean_of(r, map_of)},
        {"alerts.tachycardia_episodes", episodes[0]}, {"alerts.bradycardia_episodes", episodes[1]},
        {"alerts.hypoxia_episodes", episodes[2]}, {"alerts.fever_episodes", episodes[3]},
    });
}

} // namespace

field_map window_stats(record_type type, const recs & records) {
    field_map out = {{"type", std::string(record_type_name(type))}, {"count", static_cast<int64_t>(records.size())}};
    for (const field_spec & f : record_spec(type).fields) {
        for (const field_stat & s : f.stats) {
            out.emplace_back(s.key, f.kind == FIELD_KIND_STR ? text_stat(s.kind, f, records) : numeric_stat(s.kind, f, records));
        }
    }
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
