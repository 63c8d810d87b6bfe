#include "record-types.h"

#include "core-limits.h"

#include <limits>
#include <stdexcept>

namespace streaminfer {

namespace {

constexpr double INF = std::numeric_limits<double>::infinity(); // strings: no range
// Numbers: what the core prints in full and sums exactly (core-limits.h).
constexpr double BIG   = MAX_ABS_NUMBER;
constexpr double COUNT = static_cast<double>(MAX_COUNT);

// Slots in field order, per kind: the i-th number lands in record::num[i].
record_type_spec with_slots(record_type_spec spec) {
    size_t n_num = 0;
    size_t n_str = 0;
    for (field_spec & f : spec.fields) {
        f.slot = static_cast<int32_t>(f.kind == FIELD_KIND_STR ? n_str++ : n_num++);
    }
    if (n_num > MAX_NUMERIC_FIELDS || n_str > MAX_STRING_FIELDS) {
        throw std::logic_error(std::string("record type ") + spec.name + " has more fields than a record holds");
    }
    return spec;
}

std::vector<record_type_spec> make_table() {
    std::vector<record_type_spec> t;
    t.push_back(with_slots({RECORD_TYPE_OHLCV, "ohlcv", "Price candles: open, high, low, close, volume", {
        {"o", FIELD_KIND_FLOAT, true, -BIG, BIG, "open", ',', "185.52", "open price", {{STAT_FIRST, "first_open"}}},
        {"h", FIELD_KIND_FLOAT, true, -BIG, BIG, "high", ',', "186.21", "high price",
         {{STAT_MAX, "max_high"}, {STAT_ARGMAX, "max_high_index"}}},
        {"l", FIELD_KIND_FLOAT, true, -BIG, BIG, "low", ',', "185.07", "low price",
         {{STAT_MIN, "min_low"}, {STAT_ARGMIN, "min_low_index"}}},
        {"c", FIELD_KIND_FLOAT, true, -BIG, BIG, "close", ',', "185.96", "close price",
         {{STAT_LAST, "last_close"}, {STAT_MEAN, "avg_close"}}},
        {"v", FIELD_KIND_FLOAT, true, -BIG, BIG, "volume", ',', "1234567", "volume", {{STAT_MAX, "max_volume"}}},
        {"sym", FIELD_KIND_STR, false, -INF, INF, "symbol", ',', nullptr, "instrument symbol", {}},
    }}));
    t.push_back(with_slots({RECORD_TYPE_IOT, "iot", "Sensor readings against their limits", {
        {"sid", FIELD_KIND_STR, true, -INF, INF, "sensor", ',', "temp-01", "sensor id", {{STAT_LAST, "last_sensor"}}},
        {"val", FIELD_KIND_FLOAT, true, -BIG, BIG, "value", ',', "23.57", "reading",
         {{STAT_LAST, "last_value"}, {STAT_MIN, "min_value"}, {STAT_MAX, "max_value"}, {STAT_MEAN, "avg_value"}}},
        {"lo", FIELD_KIND_FLOAT, true, -BIG, BIG, "low limit", ',', "18.5", "lower limit of the normal range", {}},
        {"hi", FIELD_KIND_FLOAT, true, -BIG, BIG, "high limit", ',', "30.25", "upper limit of the normal range", {}},
    }}));
    t.push_back(with_slots({RECORD_TYPE_SPATIAL, "spatial", "Positions of a moving object", {
        {"x", FIELD_KIND_FLOAT, true, -BIG, BIG, "x", ',', "120.55", "x coordinate", {{STAT_LAST, "current_position.x"}}},
        {"y", FIELD_KIND_FLOAT, true, -BIG, BIG, "y", ',', "-45.25", "y coordinate", {{STAT_LAST, "current_position.y"}}},
        {"z", FIELD_KIND_FLOAT, true, -BIG, BIG, "z", ',', "10.5", "z coordinate", {{STAT_LAST, "current_position.z"}}},
        {"spd", FIELD_KIND_FLOAT, true, -BIG, BIG, "speed", ',', "12.75", "speed",
         {{STAT_LAST, "current_speed"}, {STAT_MAX, "max_speed"}, {STAT_MEAN, "avg_speed"}}},
        {"hdg", FIELD_KIND_FLOAT, true, 0.0, 360.0, "heading", ',', "270.5", "heading in degrees",
         {{STAT_LAST, "current_heading"}}},
    }}));
    t.push_back(with_slots({RECORD_TYPE_EVENT, "event", "Security or operations events", {
        {"src", FIELD_KIND_STR, true, -INF, INF, "source", ',', "fw-01", "event source", {{STAT_DISTINCT, "unique_sources"}}},
        {"sev", FIELD_KIND_INT, true, 0.0, 4.0, "severity 0-4", ',', "3", "severity, 4 is critical",
         {{STAT_MAX, "max_severity"}}},
        {"cat", FIELD_KIND_STR, true, -INF, INF, "category", ',', "auth", "event category",
         {{STAT_DISTINCT, "unique_categories"}, {STAT_MODE, "top_category"}, {STAT_MODE_COUNT, "top_category_count"}}},
        {"cnt", FIELD_KIND_INT, true, 0.0, COUNT, "count", ',', "12", "occurrences", {{STAT_SUM, "total_event_count"}}},
    }}));
    t.push_back(with_slots({RECORD_TYPE_VITALS, "vitals", "Patient vital signs", {
        {"hr", FIELD_KIND_FLOAT, true, -BIG, BIG, "heart rate", ',', "72.5", "heart rate, beats per minute",
         {{STAT_LAST, "current.hr"}, {STAT_MEAN, "avg_heart_rate"}}},
        {"bp_s", FIELD_KIND_FLOAT, true, -BIG, BIG, "blood pressure", ',', "120", "systolic blood pressure, mmHg", {}},
        {"bp_d", FIELD_KIND_FLOAT, true, -BIG, BIG, nullptr, '/', "80", "diastolic blood pressure, mmHg", {}},
        {"spo2", FIELD_KIND_FLOAT, true, -BIG, BIG, "spo2", ',', "97.5", "oxygen saturation, %",
         {{STAT_LAST, "current.spo2"}, {STAT_MIN, "min_spo2"}}},
        {"temp", FIELD_KIND_FLOAT, true, -BIG, BIG, "temperature", ',', "36.85", "body temperature, degrees Celsius",
         {{STAT_LAST, "current.temp"}, {STAT_MAX, "max_temp"}}},
    }}));
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i].type != static_cast<record_type>(i)) {
            throw std::logic_error("the record type table is out of enum order");
        }
    }
    return t;
}

const std::vector<record_type_spec> & table() {
    static const std::vector<record_type_spec> t = make_table();
    return t;
}

} // namespace

const record_type_spec & record_spec(record_type type) {
    if (type < 0 || type >= RECORD_TYPE_COUNT) {
        throw std::invalid_argument("unknown record type " + std::to_string(static_cast<int32_t>(type)));
    }
    return table()[static_cast<size_t>(type)];
}

bool record_type_from_name(const std::string & name, record_type & out) {
    for (const record_type_spec & spec : table()) {
        if (name == spec.name) {
            out = spec.type;
            return true;
        }
    }
    return false;
}

const char * record_type_name(record_type type) {
    return type >= 0 && type < RECORD_TYPE_COUNT ? table()[static_cast<size_t>(type)].name : "unknown";
}

std::vector<std::string> record_type_names() {
    std::vector<std::string> names;
    for (const record_type_spec & spec : table()) {
        names.emplace_back(spec.name);
    }
    return names;
}

} // namespace streaminfer
