// Records of the five data types and the compact text line each becomes.
//
// A record is validated once, on the producer side (the event loop thread),
// and from then on is plain data: the tokenization worker formats it and the
// decode thread keeps a copy of the records in the window for statistics.
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
    FIELD_KIND_FLOAT = 0, // JSON number (int accepted), finite
    FIELD_KIND_INT   = 1, // JSON integer
    FIELD_KIND_STR   = 2,
};

// One field of a record type. Numeric fields land in record::num[slot],
// strings in record::str[slot].
struct field_spec {
    const char * name;
    field_kind   kind;
    bool         required;
    int32_t      slot;
    double       min_value; // inclusive; -inf when unbounded
    double       max_value; // inclusive; +inf when unbounded
};

struct record {
    record_type                type = RECORD_TYPE_OHLCV;
    bool                       has_timestamp = false;
    int64_t                    timestamp = 0; // Unix seconds
    std::array<double, 5>      num{};         // [n_numeric_fields(type)]
    std::array<std::string, 2> str{};         // [n_string_fields(type)]
};

// "ohlcv" -> RECORD_TYPE_OHLCV; returns false for an unknown name.
bool                   record_type_from_name(const std::string & name, record_type & out);
const char *           record_type_name(record_type type);
std::vector<std::string> record_type_names();

// The fields of a type, in wire order (timestamp excluded: it is common to all).
const std::vector<field_spec> & record_fields(record_type type);

// Range check of one numeric value for a field; on failure fills `why`.
bool check_number(const field_spec & spec, double value, std::string & why);

// Header line naming the columns, placed once in the prefix.
std::string record_header(record_type type);

// The record as one line (with trailing '\n'), columns as in the header.
std::string format_record(const record & rec);

// Shortest decimal text that reads back as the same double (at most 6
// significant digits after rounding, no trailing zeros): 185.5, 0.25, 1200.
std::string format_number(double value);

} // namespace streaminfer
