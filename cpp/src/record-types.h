// The record types, each described once: its fields with their kind, range,
// place on the model's line and the statistics they feed. Validation
// (record-format.h), formatting, the sample record that sizes a window, the
// window statistics (window-stats.h) and the field descriptions Python reads
// (`_core.record_types()`) are all derived from this table.
//
// Adding a type: an enum value, a table entry in record-types.cpp, and its
// derived statistics in window-stats.cpp (the per-field ones come free).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace streaminfer {

enum record_type : int32_t {
    RECORD_TYPE_OHLCV   = 0,
    RECORD_TYPE_IOT     = 1,
    RECORD_TYPE_SPATIAL = 2,
    RECORD_TYPE_EVENT   = 3,
    RECORD_TYPE_VITALS  = 4,
    RECORD_TYPE_COUNT   = 5,
};

enum field_kind : int32_t {
    FIELD_KIND_FLOAT = 0, // JSON number (an integer is accepted), finite
    FIELD_KIND_INT   = 1, // JSON integer
    FIELD_KIND_STR   = 2, // 1 to MAX_TEXT_LENGTH bytes: ASCII letters, digits and TEXT_PUNCTUATION
};

// A statistic over the window that one field feeds, under `key` in /stats
// ("a.b" keys nest: {"a": {"b": ...}}). Numbers keep the field's kind.
enum stat_kind : int32_t {
    STAT_FIRST,      // the oldest record's value
    STAT_LAST,       // the newest record's value
    STAT_MIN,
    STAT_MAX,
    STAT_ARGMIN,     // index (oldest = 0) of the first minimum
    STAT_ARGMAX,
    STAT_MEAN,       // always a float
    STAT_SUM,
    STAT_DISTINCT,   // how many different values
    STAT_MODE,       // the most frequent value (ties: the first in byte order)
    STAT_MODE_COUNT, // how often the mode occurs
};

struct field_stat {
    stat_kind    kind;
    const char * key;
};

struct field_spec {
    const char * name;      // the JSON key
    field_kind   kind;
    bool         required;  // optional fields are left off the line when absent
    double       min_value; // numbers: the inclusive range (+-inf when unbounded)
    double       max_value;
    const char * column;    // its header column; nullptr: joined to the previous field's column
    char         separator; // printed before it on the line: ',' (or '/' inside a column)
    const char * example;   // its value in the sample record, as text; nullptr: absent
    const char * description;
    std::vector<field_stat> stats;
    int32_t      slot = 0;  // derived: index into record::num (numbers) or record::str (strings)
};

constexpr size_t MAX_NUMERIC_FIELDS = 5;
constexpr size_t MAX_STRING_FIELDS  = 2;

struct record_type_spec {
    record_type             type;
    const char *            name;
    const char *            description;
    std::vector<field_spec> fields; // in line order (the timestamp, common to all, is not one of them)
};

struct record {
    record_type                                 type = RECORD_TYPE_OHLCV;
    bool                                        has_timestamp = false;
    int64_t                                     timestamp = 0; // Unix seconds
    std::array<double, MAX_NUMERIC_FIELDS>      num{};
    std::array<std::string, MAX_STRING_FIELDS>  str{};
};

const record_type_spec & record_spec(record_type type);

// "ohlcv" -> RECORD_TYPE_OHLCV; false for an unknown name.
bool                     record_type_from_name(const std::string & name, record_type & out);
const char *             record_type_name(record_type type);
std::vector<std::string> record_type_names();

} // namespace streaminfer
