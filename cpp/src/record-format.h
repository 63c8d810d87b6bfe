// A record's checks and the compact text line it becomes, derived from its
// type's table entry (record-types.h).
//
// A record is checked once, on the producer side (the bindings, on the event
// loop thread), and from then on is plain data: the tokenization worker
// formats it and the decode thread keeps it in the window for statistics.
#pragma once

#include "record-types.h"

#include <cstdint>
#include <string>

namespace streaminfer {

// Each fills `why` and returns false when the value breaks its field's rule.
bool check_number(const field_spec & spec, double value, std::string & why);
bool check_text(const std::string & text, std::string & why);
// ASCII letters, digits and TEXT_PUNCTUATION (core-limits.h).
bool text_char_allowed(char ch);
bool check_timestamp(int64_t unix_seconds, std::string & why);

// A record of the type holding every field's example value, with a
// whole-minute timestamp: a typical line, whose token count sizes a window.
record sample_record(record_type type);

// Header line naming the columns, placed once in the prefix.
std::string record_header(record_type type);

// The record as one line (with trailing '\n'), columns as in the header.
std::string format_record(const record & rec);

// Integers (below 1e15) in full, other numbers rounded to 6 significant
// digits (printf's %.6g: 185.5, 0.25, 1.23457e+06); short, because every
// digit costs the model a token, and lossy beyond 6 digits.
std::string format_number(double value);

} // namespace streaminfer
