#include "record-format.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace streaminfer {

namespace {

constexpr double INF = std::numeric_limits<double>::infinity();

// Column order here is the order on the line and in the header.
const std::vector<field_spec> & fields_table(record_type type) {
    static const std::vector<field_spec> ohlcv = {
        {"sym", FIELD_KIND_STR,   false, 0, -INF, INF},
        {"o",   FIELD_KIND_FLOAT, true,  0, -INF, INF},
        {"h",   FIELD_KIND_FLOAT, true,  1, -INF, INF},
        {"l",   FIELD_KIND_FLOAT, true,  2, -INF, INF},
        {"c",   FIELD_KIND_FLOAT, true,  3, -INF, INF},
        {"v",   FIELD_KIND_FLOAT, true,  4, -INF, INF},
    };
    static const std::vector<field_spec> iot = {
        {"sid", FIELD_KIND_STR,   true,  0, -INF, INF},
        {"val", FIELD_KIND_FLOAT, true,  0, -INF, INF},
        {"lo",  FIELD_KIND_FLOAT, true,  1, -INF, INF},
        {"hi",  FIELD_KIND_FLOAT, true,  2, -INF, INF},
    };
    static const std::vector<field_spec> spatial = {
        {"x",   FIELD_KIND_FLOAT, true,  0, -INF, INF},
        {"y",   FIELD_KIND_FLOAT, true,  1, -INF, INF},
        {"z",   FIELD_KIND_FLOAT, true,  2, -INF, INF},
        {"spd", FIELD_KIND_FLOAT, true,  3, -INF, INF},
        {"hdg", FIELD_KIND_FLOAT, true,  4, 0.0,  360.0},
    };
    static const std::vector<field_spec> event = {
        {"src", FIELD_KIND_STR,   true,  0, -INF, INF},
        {"sev", FIELD_KIND_INT,   true,  0, 0.0,  4.0},
        {"cat", FIELD_KIND_STR,   true,  1, -INF, INF},
        {"cnt", FIELD_KIND_INT,   true,  1, 0.0,  INF},
    };
    static const std::vector<field_spec> vitals = {
        {"hr",   FIELD_KIND_FLOAT, true, 0, -INF, INF},
        {"bp_s", FIELD_KIND_FLOAT, true, 1, -INF, INF},
        {"bp_d", FIELD_KIND_FLOAT, true, 2, -INF, INF},
        {"spo2", FIELD_KIND_FLOAT, true, 3, -INF, INF},
        {"temp", FIELD_KIND_FLOAT, true, 4, -INF, INF},
    };
    switch (type) {
        case RECORD_TYPE_OHLCV:   return ohlcv;
        case RECORD_TYPE_IOT:     return iot;
        case RECORD_TYPE_SPATIAL: return spatial;
        case RECORD_TYPE_EVENT:   return event;
        case RECORD_TYPE_VITALS:  return vitals;
        case RECORD_TYPE_COUNT:   break;
    }
    static const std::vector<field_spec> none;
    return none;
}

const char * const TYPE_NAMES[RECORD_TYPE_COUNT] = {"ohlcv", "iot", "spatial", "event", "vitals"};

// Time of day, UTC: the date is left out on purpose (a window spans minutes
// to hours; five or eight characters instead of a ten-digit epoch, and
// digits cost one token each). Seconds only when they are not zero: candles
// and most telemetry sit on whole minutes.
std::string format_time(int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm_utc{};
    gmtime_r(&t, &tm_utc);
    char buf[16];
    if (tm_utc.tm_sec == 0) {
        std::snprintf(buf, sizeof(buf), "%02d:%02d", tm_utc.tm_hour, tm_utc.tm_min);
    } else {
        std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d", tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec);
    }
    return buf;
}

std::string with_time(const char * columns) {
    return std::string("One record per line: ") + columns + " (a line may start with its UTC time, HH:MM or HH:MM:SS)";
}

} // namespace

bool record_type_from_name(const std::string & name, record_type & out) {
    for (int32_t i = 0; i < RECORD_TYPE_COUNT; ++i) {
        if (name == TYPE_NAMES[i]) {
            out = static_cast<record_type>(i);
            return true;
        }
    }
    return false;
}

const char * record_type_name(record_type type) {
    return type >= 0 && type < RECORD_TYPE_COUNT ? TYPE_NAMES[type] : "unknown";
}

std::vector<std::string> record_type_names() {
    return {TYPE_NAMES, TYPE_NAMES + RECORD_TYPE_COUNT};
}

const std::vector<field_spec> & record_fields(record_type type) {
    return fields_table(type);
}

bool check_number(const field_spec & spec, double value, std::string & why) {
    if (!std::isfinite(value)) {
        why = "must be a finite number (NaN and Infinity are rejected)";
        return false;
    }
    if (spec.kind == FIELD_KIND_INT && value != std::floor(value)) {
        why = "must be an integer";
        return false;
    }
    if (value < spec.min_value || value > spec.max_value) {
        char buf[96];
        if (std::isinf(spec.max_value)) {
            std::snprintf(buf, sizeof(buf), "must be >= %s", format_number(spec.min_value).c_str());
        } else {
            std::snprintf(buf, sizeof(buf), "must be in [%s, %s]",
                          format_number(spec.min_value).c_str(), format_number(spec.max_value).c_str());
        }
        why = buf;
        return false;
    }
    return true;
}

std::string format_number(double value) {
    if (value == 0.0) {
        return "0";
    }
    char buf[64];
    // Integers up to 1e15 verbatim (volumes, counts); others at 6 significant digits.
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%.0f", value);
        return buf;
    }
    std::snprintf(buf, sizeof(buf), "%.6g", value);
    return buf;
}

std::string record_header(record_type type) {
    switch (type) {
        case RECORD_TYPE_OHLCV:   return with_time("open,high,low,close,volume[,symbol]");
        case RECORD_TYPE_IOT:     return with_time("sensor,value,low limit,high limit");
        case RECORD_TYPE_SPATIAL: return with_time("x,y,z,speed,heading");
        case RECORD_TYPE_EVENT:   return with_time("source,severity 0-4,category,count");
        case RECORD_TYPE_VITALS:  return with_time("heart rate,blood pressure,spo2,temperature");
        case RECORD_TYPE_COUNT:   break;
    }
    return "";
}

std::string format_record(const record & rec) {
    std::string line;
    line.reserve(64);
    if (rec.has_timestamp) {
        line += format_time(rec.timestamp);
        line += ' ';
    }
    bool first = true;
    auto col = [&line, &first](const std::string & text) {
        if (!first) {
            line += ',';
        }
        first = false;
        line += text;
    };
    const auto & n = rec.num;
    switch (rec.type) {
        case RECORD_TYPE_OHLCV:
            for (int i = 0; i < 5; ++i) {
                col(format_number(n[i]));
            }
            if (!rec.str[0].empty()) {
                col(rec.str[0]);
            }
            break;
        case RECORD_TYPE_IOT:
            col(rec.str[0]);
            for (int i = 0; i < 3; ++i) {
                col(format_number(n[i]));
            }
            break;
        case RECORD_TYPE_SPATIAL:
            for (int i = 0; i < 5; ++i) {
                col(format_number(n[i]));
            }
            break;
        case RECORD_TYPE_EVENT:
            col(rec.str[0]);
            col(format_number(n[0]));
            col(rec.str[1]);
            col(format_number(n[1]));
            break;
        case RECORD_TYPE_VITALS:
            col(format_number(n[0]));
            col(format_number(n[1]) + "/" + format_number(n[2]));
            col(format_number(n[3]));
            col(format_number(n[4]));
            break;
        case RECORD_TYPE_COUNT:
            break;
    }
    line += '\n';
    return line;
}

} // namespace streaminfer
