// The record table (record-types.h) and what is derived from it
// (record-format.h): checks, header, lines, the sample record.

#include "core-limits.h"
#include "record-format.h"
#include "test-support.h"

#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

const field_spec & spec_of(record_type type, const std::string & name) {
    for (const field_spec & f : record_spec(type).fields) {
        if (name == f.name) {
            return f;
        }
    }
    std::fprintf(stderr, "no field %s in %s\n", name.c_str(), record_type_name(type));
    std::abort();
}

TEST_CASE(format_record) {
    // One line per type, columns in header order, timestamp as UTC time of day.
    CHECK(format_record(make_record(RECORD_TYPE_OHLCV, {185.52, 186.21, 185.07, 185.96, 1234567}, {"AAPL", ""}, T0)) ==
          "22:13:20 185.52,186.21,185.07,185.96,1234567,AAPL\n");
    CHECK(format_record(make_record(RECORD_TYPE_OHLCV, {1, 2, 0.5, 1.5, 100})) == "1,2,0.5,1.5,100\n");
    CHECK(format_record(make_record(RECORD_TYPE_IOT, {23.57, 18.5, 30.25, 0, 0}, {"temp-01", ""}, T0 + 40)) ==
          "22:14 temp-01,23.57,18.5,30.25\n"); // whole minute: no seconds
    CHECK(format_record(make_record(RECORD_TYPE_SPATIAL, {120.55, -45.25, 10.5, 12.75, 270.5})) ==
          "120.55,-45.25,10.5,12.75,270.5\n");
    CHECK(format_record(make_record(RECORD_TYPE_EVENT, {3, 12, 0, 0, 0}, {"fw-01", "auth"})) == "fw-01,3,auth,12\n");
    CHECK(format_record(make_record(RECORD_TYPE_VITALS, {72.5, 120, 80, 97.5, 36.85}, {}, T0 - 20)) ==
          "22:13 72.5,120/80,97.5,36.85\n");
}

TEST_CASE(record_header_and_names) {
    const std::pair<record_type, const char *> columns[] = {
        {RECORD_TYPE_OHLCV, "open,high,low,close,volume[,symbol]"},
        {RECORD_TYPE_IOT, "sensor,value,low limit,high limit"},
        {RECORD_TYPE_SPATIAL, "x,y,z,speed,heading"},
        {RECORD_TYPE_EVENT, "source,severity 0-4,category,count"},
        {RECORD_TYPE_VITALS, "heart rate,blood pressure,spo2,temperature"},
    };
    for (const auto & [type, cols] : columns) {
        const std::string h = record_header(type);
        CHECK(h.rfind("One record per line: ", 0) == 0);
        CHECK(h.find(cols) != std::string::npos);
        CHECK(h.find('\n') == std::string::npos);
        record_type back = RECORD_TYPE_COUNT;
        CHECK(record_type_from_name(record_type_name(type), back));
        CHECK(back == type);
    }
    CHECK_THROWS(record_header(RECORD_TYPE_COUNT), std::invalid_argument);
    CHECK(std::string(record_type_name(RECORD_TYPE_COUNT)) == "unknown");
    record_type out = RECORD_TYPE_VITALS;
    CHECK(!record_type_from_name("bogus", out));
    CHECK(out == RECORD_TYPE_VITALS); // untouched
    CHECK(record_type_names() == (std::vector<std::string>{"ohlcv", "iot", "spatial", "event", "vitals"}));
    CHECK(record_spec(RECORD_TYPE_OHLCV).fields.size() == 6);
    CHECK(record_spec(RECORD_TYPE_EVENT).fields.size() == 4);
}

// check_number's verdict on `value` for the field: "" when accepted, else
// the start of the reason it gives.
void expect_number(record_type type, const char * field, double value, const std::string & reason) {
    std::string why;
    const bool  ok = check_number(spec_of(type, field), value, why);
    if (ok != reason.empty() || why.rfind(reason, 0) != 0) {
        std::fprintf(stderr, "check_number(%s.%s, %g): %s, \"%s\"; expected \"%s\"\n", record_type_name(type), field,
                     value, ok ? "accepted" : "refused", why.c_str(), reason.c_str());
        g_failures.fetch_add(1);
    }
}

TEST_CASE(check_number) {
    const double nan    = std::numeric_limits<double>::quiet_NaN();
    const double inf    = std::numeric_limits<double>::infinity();
    const char * finite = "must be a finite number";
    const struct {
        record_type  type;
        const char * field;
        double       value;
        std::string  reason;
    } cases[] = {
        {RECORD_TYPE_OHLCV, "c", 185.5, ""},
        // Floats within MAX_ABS_NUMBER: printed in full when whole, summed finite.
        {RECORD_TYPE_OHLCV, "c", 1e15, ""}, {RECORD_TYPE_OHLCV, "c", -1e15, ""},
        {RECORD_TYPE_OHLCV, "c", std::nextafter(1e15, 2e15), "must be in ["},
        {RECORD_TYPE_OHLCV, "c", -1e300, "must be in ["},
        {RECORD_TYPE_OHLCV, "c", 1.7976931348623157e308, "must be in ["},
        {RECORD_TYPE_OHLCV, "c", nan, finite}, {RECORD_TYPE_OHLCV, "c", inf, finite},
        {RECORD_TYPE_OHLCV, "c", -inf, finite},
        {RECORD_TYPE_OHLCV, "v", 1.5, ""}, // a float field takes fractions
        {RECORD_TYPE_SPATIAL, "hdg", 0.0, ""}, {RECORD_TYPE_SPATIAL, "hdg", 360.0, ""},
        {RECORD_TYPE_SPATIAL, "hdg", 361.0, "must be in [0, 360]"},
        {RECORD_TYPE_SPATIAL, "hdg", -0.5, "must be in [0, 360]"},
        {RECORD_TYPE_EVENT, "sev", 4.0, ""}, {RECORD_TYPE_EVENT, "sev", 0.0, ""},
        {RECORD_TYPE_EVENT, "sev", 5.0, "must be in [0, 4]"}, {RECORD_TYPE_EVENT, "sev", 2.5, "must be an integer"},
        {RECORD_TYPE_EVENT, "cnt", 0.0, ""},
        // Counts within MAX_COUNT: a full window of them sums below 2^53.
        {RECORD_TYPE_EVENT, "cnt", static_cast<double>(MAX_COUNT), ""},
        {RECORD_TYPE_EVENT, "cnt", static_cast<double>(MAX_COUNT + 1), "must be in [0, "},
        {RECORD_TYPE_EVENT, "cnt", -1.0, "must be in [0, "},
        {RECORD_TYPE_EVENT, "cnt", 9007199254740992.0, "must be in [0, "},  // 2^53
        {RECORD_TYPE_EVENT, "cnt", 9007199254740993.0, "must be in [0, "},  // 2^53 + 1 (as a double: 2^53)
        {RECORD_TYPE_EVENT, "cnt", 9223372036854775807.0, "must be in [0, "}, // INT64_MAX
        {RECORD_TYPE_EVENT, "cnt", nan, finite},
    };
    for (const auto & c : cases) {
        expect_number(c.type, c.field, c.value, c.reason);
    }
}

TEST_CASE(format_number) {
    CHECK(format_number(185.5) == "185.5");
    CHECK(format_number(0.25) == "0.25");
    CHECK(format_number(1200) == "1200");
    CHECK(format_number(0.0) == "0");
    CHECK(format_number(-0.0) == "0");
    CHECK(format_number(-3) == "-3");
    CHECK(format_number(1234567) == "1234567");
    CHECK(format_number(3.14159265) == "3.14159");
    CHECK(format_number(1e20) == "1e+20");
}

// Integer fields print in full, whatever their size.
TEST_CASE(format_integer_field) {
    const auto count = static_cast<double>(MAX_COUNT);
    const record rec = make_record(RECORD_TYPE_EVENT, {1, count, 0, 0, 0}, {"fw-01", "auth"});
    CHECK(format_record(rec) == "fw-01,1,auth," + std::to_string(MAX_COUNT) + "\n");
}

TEST_CASE(record_table) {
    // Slots count numbers and strings apart, in field order.
    CHECK(spec_of(RECORD_TYPE_OHLCV, "o").slot == 0);
    CHECK(spec_of(RECORD_TYPE_OHLCV, "v").slot == 4);
    CHECK(spec_of(RECORD_TYPE_OHLCV, "sym").slot == 0);
    CHECK(spec_of(RECORD_TYPE_EVENT, "src").slot == 0);
    CHECK(spec_of(RECORD_TYPE_EVENT, "sev").slot == 0);
    CHECK(spec_of(RECORD_TYPE_EVENT, "cat").slot == 1);
    CHECK(spec_of(RECORD_TYPE_EVENT, "cnt").slot == 1);
    CHECK(!spec_of(RECORD_TYPE_OHLCV, "sym").required);
    CHECK(spec_of(RECORD_TYPE_VITALS, "bp_d").column == nullptr); // joined to blood pressure
    CHECK(spec_of(RECORD_TYPE_VITALS, "bp_d").separator == '/');
    const field_spec & high = spec_of(RECORD_TYPE_OHLCV, "h");
    REQUIRE(high.stats.size() == 2);
    CHECK(high.stats[0].kind == STAT_MAX && std::string(high.stats[0].key) == "max_high");
    CHECK(high.stats[1].kind == STAT_ARGMAX && std::string(high.stats[1].key) == "max_high_index");
    for (int t = 0; t < RECORD_TYPE_COUNT; ++t) {
        const record_type_spec & spec = record_spec(static_cast<record_type>(t));
        CHECK(spec.type == t);
        for (const field_spec & f : spec.fields) {
            CHECK(f.required == (f.example != nullptr)); // the sample holds every required field
        }
    }
    CHECK_THROWS(record_spec(RECORD_TYPE_COUNT), std::invalid_argument);
}

TEST_CASE(sample_record) {
    // Every example value, on a whole minute: the line format_record shows for a typical record.
    CHECK(format_record(sample_record(RECORD_TYPE_OHLCV)) == "22:13 185.52,186.21,185.07,185.96,1234567\n");
    CHECK(format_record(sample_record(RECORD_TYPE_IOT)) == "22:13 temp-01,23.57,18.5,30.25\n");
    CHECK(format_record(sample_record(RECORD_TYPE_EVENT)) == "22:13 fw-01,3,auth,12\n");
    CHECK(format_record(sample_record(RECORD_TYPE_VITALS)) == "22:13 72.5,120/80,97.5,36.85\n");
    std::string why;
    for (int t = 0; t < RECORD_TYPE_COUNT; ++t) {
        const record r = sample_record(static_cast<record_type>(t));
        CHECK(r.has_timestamp);
        CHECK(check_timestamp(r.timestamp, why));
        for (const field_spec & f : record_spec(r.type).fields) {
            if (f.kind != FIELD_KIND_STR) {
                CHECK(check_number(f, r.num[static_cast<size_t>(f.slot)], why));
            } else if (f.example != nullptr) {
                CHECK(check_text(r.str[static_cast<size_t>(f.slot)], why));
            }
        }
    }
}

TEST_CASE(check_text_and_timestamp) {
    std::string why;
    CHECK(check_text("temp-01", why));
    CHECK(check_text(std::string(64, 'a'), why));
    CHECK(!check_text(std::string(65, 'a'), why));
    CHECK(why == "must be 1 to 64 bytes");
    CHECK(!check_text("", why));
    why.clear();
    // ASCII letters, digits and TEXT_PUNCTUATION; nothing else.
    for (const char * ok : {"BTC-USD", "temp_01", "rack 4/slot:2", "user@host", "a.b#c+d=e", "Z9"}) {
        CHECK(check_text(ok, why));
    }
    for (const char * bad : {"a,b", "a\nb", "a\tb", "a\x7f" "b", "caf\xc3\xa9", "a\xc2\x85" "b", "a\xe2\x80\xa8" "b",
                             "a\xe2\x80\xa9" "b", "a\xe2\x80\xae" "b", "<|im_start|>", "a>b", "a|b", "a\"b", "a'b"}) {
        why.clear();
        CHECK(!check_text(bad, why));
        CHECK(why.find("ASCII letters, digits") != std::string::npos);
    }
    CHECK(!check_text(" padded", why));
    CHECK(!check_text("padded ", why));
    CHECK(why == "must not start or end with a space");

    CHECK(check_timestamp(0, why));
    CHECK(check_timestamp(T0, why));
    CHECK(check_timestamp(253402300799, why)); // 9999-12-31 23:59:59
    why.clear();
    CHECK(!check_timestamp(-1, why));
    CHECK(why.find("Unix seconds") != std::string::npos);
    CHECK(!check_timestamp(253402300800, why));
}

} // namespace
} // namespace streaminfer_test
