#include "record-format.h"

#include "core-limits.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace streaminfer {

namespace {

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

} // namespace

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
        why = std::isinf(spec.max_value)
                  ? "must be >= " + format_number(spec.min_value)
                  : "must be in [" + format_number(spec.min_value) + ", " + format_number(spec.max_value) + "]";
        return false;
    }
    return true;
}

bool text_char_allowed(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && std::strchr(TEXT_PUNCTUATION, c) != nullptr;
}

bool check_text(const std::string & text, std::string & why) {
    if (text.empty() || text.size() > static_cast<size_t>(MAX_TEXT_LENGTH)) {
        why = "must be 1 to " + std::to_string(MAX_TEXT_LENGTH) + " bytes";
        return false;
    }
    for (const char ch : text) {
        if (!text_char_allowed(ch)) {
            why = std::string("may hold only ASCII letters, digits and \"") + TEXT_PUNCTUATION + "\"";
            return false;
        }
    }
    if (text.front() == ' ' || text.back() == ' ') {
        why = "must not start or end with a space";
        return false;
    }
    return true;
}

bool check_timestamp(int64_t unix_seconds, std::string & why) {
    if (unix_seconds < 0 || unix_seconds > MAX_TIMESTAMP) {
        why = "must be Unix seconds between 0 and " + std::to_string(MAX_TIMESTAMP);
        return false;
    }
    return true;
}

record sample_record(record_type type) {
    record r;
    r.type          = type;
    r.has_timestamp = true;
    r.timestamp     = 1699999980; // a whole minute: HH:MM
    for (const field_spec & f : record_spec(type).fields) {
        if (f.example == nullptr) {
            continue;
        }
        if (f.kind == FIELD_KIND_STR) {
            r.str[static_cast<size_t>(f.slot)] = f.example;
        } else {
            r.num[static_cast<size_t>(f.slot)] = std::strtod(f.example, nullptr);
        }
    }
    return r;
}

std::string format_number(double value) {
    if (value == 0.0) {
        return "0";
    }
    char buf[64];
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%.0f", value);
        return buf;
    }
    std::snprintf(buf, sizeof(buf), "%.6g", value);
    return buf;
}

std::string record_header(record_type type) {
    std::string columns;
    for (const field_spec & f : record_spec(type).fields) {
        if (f.column == nullptr) {
            continue;
        }
        const std::string col = (columns.empty() ? "" : ",") + std::string(f.column);
        columns += f.required ? col : "[" + col + "]";
    }
    return "One record per line: " + columns + " (a line may start with its UTC time, HH:MM or HH:MM:SS)";
}

std::string format_record(const record & rec) {
    std::string line;
    line.reserve(64);
    if (rec.has_timestamp) {
        line += format_time(rec.timestamp);
        line += ' ';
    }
    bool first = true;
    for (const field_spec & f : record_spec(rec.type).fields) {
        const auto slot = static_cast<size_t>(f.slot);
        if (f.kind == FIELD_KIND_STR && rec.str[slot].empty()) {
            continue; // an optional field left out (required ones are never empty)
        }
        if (!first) {
            line += f.separator;
        }
        first = false;
        switch (f.kind) {
            case FIELD_KIND_STR:   line += rec.str[slot]; break;
            case FIELD_KIND_INT:   line += std::to_string(static_cast<int64_t>(rec.num[slot])); break; // checked: within MAX_COUNT
            case FIELD_KIND_FLOAT: line += format_number(rec.num[slot]); break;
        }
    }
    line += '\n';
    return line;
}

} // namespace streaminfer
