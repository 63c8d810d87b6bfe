// Tests for the engine and the modules under it, without Python:
//   test-engine MODEL.gguf        (or STREAMINFER_TEST_MODEL=MODEL.gguf test-engine)
//
// Two parts. Unit checks that need no model thread (record lines and
// headers, range checks, question keys, window statistics, kv_window
// bookkeeping, the event queue). Then one engine run on a real model: two
// sessions streaming bursts from this thread (the one producer) while a
// reader thread takes every snapshot the API offers and a drainer thread
// empties the event queue; generate requests, a flash query registered and
// deleted mid-stream, append_text + mark_prefix, one session destroyed
// while the other keeps streaming, then close().
//
// Built three times (see CMakeLists.txt): plain, ASan+UBSan, TSan. CHECK may
// fail on any thread: it prints file:line and counts; a case fails when the
// count grew while it ran. The last line is "N passed, M failed".

#include "engine.h"
#include "flash-query.h"
#include "kv-window.h"
#include "record-format.h"
#include "window-stats.h"

#include <poll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace streaminfer;

namespace {

std::atomic<int64_t> g_failures{0};

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            g_failures.fetch_add(1);                                                       \
        }                                                                                  \
    } while (0)

// Main thread only: stops the case when going on makes no sense.
struct require_failure {};
#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            std::fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
            g_failures.fetch_add(1);                                                         \
            throw require_failure{};                                                         \
        }                                                                                    \
    } while (0)

#define CHECK_THROWS(expr, type)                                                                    \
    do {                                                                                            \
        bool thrown_ = false;                                                                       \
        try {                                                                                       \
            (void) (expr);                                                                          \
        } catch (const type &) {                                                                    \
            thrown_ = true;                                                                         \
        } catch (const std::exception & e_) {                                                       \
            std::fprintf(stderr, "%s:%d: %s threw another exception: %s\n", __FILE__, __LINE__,     \
                         #expr, e_.what());                                                         \
        }                                                                                           \
        if (!thrown_) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK_THROWS(%s, %s) failed\n", __FILE__, __LINE__, #expr, \
                         #type);                                                                    \
            g_failures.fetch_add(1);                                                                \
        }                                                                                           \
    } while (0)

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Polls `done` every 10 ms until it holds or `limit` passes.
bool wait_until(const std::function<bool()> & done, std::chrono::seconds limit) {
    const auto deadline = clock_type::now() + limit;
    while (!done()) {
        if (clock_type::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

// ---- field_map access (CHECKs, so usable on any thread) ----

const event_value * field(const field_map & fm, const std::string & key) {
    for (const auto & [k, v] : fm) {
        if (k == key) {
            return &v;
        }
    }
    std::fprintf(stderr, "field %s missing\n", key.c_str());
    g_failures.fetch_add(1);
    return nullptr;
}

template <typename T>
T get(const field_map & fm, const std::string & key) {
    const event_value * v = field(fm, key);
    if (v == nullptr) {
        return T{};
    }
    if (const T * p = std::get_if<T>(v)) {
        return *p;
    }
    std::fprintf(stderr, "field %s has another type\n", key.c_str());
    g_failures.fetch_add(1);
    return T{};
}

int64_t     get_i(const field_map & fm, const std::string & key) { return get<int64_t>(fm, key); }
double      get_d(const field_map & fm, const std::string & key) { return get<double>(fm, key); }
std::string get_s(const field_map & fm, const std::string & key) { return get<std::string>(fm, key); }
bool        get_b(const field_map & fm, const std::string & key) { return get<bool>(fm, key); }

bool near(double a, double b) { return std::fabs(a - b) < 1e-9 * std::max(1.0, std::fabs(b)); }

const field_spec & spec_of(record_type type, const std::string & name) {
    for (const field_spec & f : record_fields(type)) {
        if (name == f.name) {
            return f;
        }
    }
    std::fprintf(stderr, "no field %s in %s\n", name.c_str(), record_type_name(type));
    std::abort();
}

// ---- records ----

record make_record(record_type type, std::array<double, 5> num, std::array<std::string, 2> str = {},
                   int64_t timestamp = -1) {
    record r;
    r.type = type;
    r.num  = num;
    r.str  = std::move(str);
    if (timestamp >= 0) {
        r.has_timestamp = true;
        r.timestamp     = timestamp;
    }
    return r;
}

std::vector<const record *> pointers(const std::vector<record> & rs) {
    std::vector<const record *> out;
    for (const record & r : rs) {
        out.push_back(&r);
    }
    return out;
}

constexpr int64_t T0 = 1700000000; // 2023-11-14 22:13:20 UTC

// ===================== unit checks (no model) =====================

void test_format_record() {
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

void test_record_header_and_names() {
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
    CHECK(record_header(RECORD_TYPE_COUNT).empty());
    CHECK(std::string(record_type_name(RECORD_TYPE_COUNT)) == "unknown");
    record_type out = RECORD_TYPE_VITALS;
    CHECK(!record_type_from_name("bogus", out));
    CHECK(out == RECORD_TYPE_VITALS); // untouched
    CHECK(record_type_names() == (std::vector<std::string>{"ohlcv", "iot", "spatial", "event", "vitals"}));
    CHECK(record_fields(RECORD_TYPE_OHLCV).size() == 6);
    CHECK(record_fields(RECORD_TYPE_EVENT).size() == 4);
}

void test_check_number() {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    std::string  why;
    const field_spec & close = spec_of(RECORD_TYPE_OHLCV, "c");
    CHECK(check_number(close, 185.5, why));
    CHECK(check_number(close, -1e300, why));
    CHECK(!check_number(close, nan, why));
    CHECK(why.find("finite") != std::string::npos);
    why.clear();
    CHECK(!check_number(close, inf, why));
    CHECK(why.find("finite") != std::string::npos);
    CHECK(!check_number(close, -inf, why));

    const field_spec & hdg = spec_of(RECORD_TYPE_SPATIAL, "hdg");
    CHECK(check_number(hdg, 0.0, why));
    CHECK(check_number(hdg, 360.0, why));
    why.clear();
    CHECK(!check_number(hdg, 361.0, why));
    CHECK(why == "must be in [0, 360]");
    CHECK(!check_number(hdg, -0.5, why));

    const field_spec & sev = spec_of(RECORD_TYPE_EVENT, "sev");
    CHECK(check_number(sev, 4.0, why));
    CHECK(check_number(sev, 0.0, why));
    why.clear();
    CHECK(!check_number(sev, 5.0, why));
    CHECK(why == "must be in [0, 4]");
    why.clear();
    CHECK(!check_number(sev, 2.5, why));
    CHECK(why == "must be an integer");

    const field_spec & cnt = spec_of(RECORD_TYPE_EVENT, "cnt");
    CHECK(check_number(cnt, 0.0, why));
    CHECK(check_number(cnt, 1e12, why));
    why.clear();
    CHECK(!check_number(cnt, -1.0, why));
    CHECK(why == "must be >= 0");
    CHECK(!check_number(cnt, nan, why));
}

void test_format_number() {
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

void test_normalize_question() {
    CHECK(normalize_question("  What is   the\tlast\n close?  ") == "What is the last close?");
    CHECK(normalize_question("What is the last close?") == "What is the last close?");
    CHECK(normalize_question("") == "");
    CHECK(normalize_question(" \t\r\n ") == "");
    CHECK(normalize_question("a") == "a");
    CHECK(normalize_question("CASE kept") != normalize_question("case kept"));
}

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

void test_kv_window_bookkeeping() {
    // No eviction is needed anywhere below, so make_room never touches the
    // (absent) context; eviction itself is exercised by the engine run.
    kv_window w(512, 3);
    w.set_prefix(20, "PREFIX\n");
    CHECK(w.prefix_end() == 20);
    CHECK(w.pos_next() == 20);
    CHECK(w.data_count() == 0);
    CHECK(w.data_tokens() == 0);
    CHECK(w.n_ctx() == 512);
    CHECK(w.window_size() == 3);

    for (int i = 0; i < 2; ++i) {
        window_entry e;
        e.n_tokens  = 10;
        e.is_record = true;
        e.rec       = make_record(RECORD_TYPE_OHLCV, {1, 2, 0.5, 1.5, 100});
        e.text      = format_record(e.rec);
        w.append(std::move(e));
    }
    window_entry note;
    note.n_tokens = 5;
    note.text     = "note\n";
    w.append(std::move(note));
    CHECK(w.pos_next() == 45);
    CHECK(w.data_count() == 2); // the text entry is not a record
    CHECK(w.data_tokens() == 25);
    CHECK(w.entries().size() == 3);

    const eviction none = w.make_room(nullptr, 1, 10, 400); // 3 records <= 3, 55 tokens <= 400
    CHECK(none.n_entries == 0);
    CHECK(none.n_records == 0);
    CHECK(none.n_tokens == 0);
    CHECK(w.pos_next() == 45);

    CHECK(w.freeze() == 2);
    CHECK(w.prefix_end() == 45);
    CHECK(w.pos_next() == 45);
    CHECK(w.data_count() == 0);
    CHECK(w.data_tokens() == 0);
    CHECK(w.entries().empty());
    CHECK(w.prefix_text() == "PREFIX\n1,2,0.5,1.5,100\n1,2,0.5,1.5,100\nnote\n");
    // Nothing left to evict: make_room reports nothing whatever is asked.
    const eviction after = w.make_room(nullptr, 5, 1000, 100);
    CHECK(after.n_entries == 0);
    CHECK(w.freeze() == 0);
}

bool fd_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

void test_event_queue() {
    event_queue q(3);
    CHECK(q.fd() >= 0);
    CHECK(!fd_readable(q.fd()));
    CHECK(q.drain().empty());
    for (int64_t i = 0; i < 4; ++i) {
        q.push(event("data_updated", "s").set("data_version", i));
    }
    CHECK(fd_readable(q.fd()));
    CHECK(q.dropped() == 1); // full: the oldest went
    const std::vector<event> got = q.drain();
    REQUIRE(got.size() == 3);
    CHECK(get_s(got[0].fields, "type") == "data_updated");
    CHECK(get_s(got[0].fields, "session_id") == "s");
    CHECK(get_i(got[0].fields, "data_version") == 1);
    CHECK(get_i(got[2].fields, "data_version") == 3);
    CHECK(!fd_readable(q.fd()));
    CHECK(q.drain().empty());
}

// ===================== the engine on a real model =====================

record ohlcv_record(int64_t i) {
    const double base = 100.0 + static_cast<double>(i % 17) * 0.5;
    return make_record(RECORD_TYPE_OHLCV, {base, base + 1.25, base - 0.75, base + 0.5, static_cast<double>(1000 + i)},
                       {}, T0 + 60 * i);
}

record iot_record(int64_t i) {
    const double value = 20.0 + static_cast<double>(i % 13) * 1.5;
    return make_record(RECORD_TYPE_IOT, {value, 18, 35, 0, 0}, {i % 2 == 0 ? "temp-01" : "temp-02", ""}, T0 + 15 * i);
}

// What the drainer thread saw (guarded by mu).
struct event_log {
    std::mutex                         mu;
    std::map<int64_t, std::string>     done_text;      // generate_done by request id
    std::map<int64_t, int64_t>         done_n_tokens;
    std::map<int64_t, std::string>     streamed;       // token pieces by request id, joined
    std::map<std::string, int64_t>     data_updated;   // by session
    std::map<std::string, int64_t>     last_version;   // by session, from data_updated
    std::map<std::string, int64_t>     flash_ready;    // by session
    std::vector<std::string>           errors;         // error / generate_error messages
    int64_t                            n_events = 0;

    void take(const event & ev) {
        const std::string type = get_s(ev.fields, "type");
        const std::string sid  = get_s(ev.fields, "session_id");
        std::lock_guard<std::mutex> lock(mu);
        n_events += 1;
        if (type == "generate_done") {
            const int64_t id = get_i(ev.fields, "request_id");
            CHECK(done_text.count(id) == 0); // exactly one done per request
            done_text[id]     = get_s(ev.fields, "text");
            done_n_tokens[id] = get_i(ev.fields, "n_tokens");
            CHECK(get_i(ev.fields, "pos_max") == get_i(ev.fields, "total_tokens") - 1);
        } else if (type == "token") {
            const int64_t id = get_i(ev.fields, "request_id");
            CHECK(done_text.count(id) == 0); // no token after its done
            streamed[id] += get_s(ev.fields, "token");
        } else if (type == "data_updated") {
            const int64_t version = get_i(ev.fields, "data_version");
            CHECK(version > last_version[sid]); // strictly increasing per session
            last_version[sid] = version;
            data_updated[sid] += 1;
            CHECK(get_i(ev.fields, "pos_next") > 0);
        } else if (type == "flash_ready") {
            flash_ready[sid] += 1;
            CHECK(get_i(ev.fields, "id") > 0);
        } else if (type == "error" || type == "generate_error") {
            const std::string message = get_s(ev.fields, "message");
            std::fprintf(stderr, "event %s from %s: %s\n", type.c_str(), sid.c_str(), message.c_str());
            errors.push_back(message);
        } else {
            std::fprintf(stderr, "unexpected event type %s\n", type.c_str());
            g_failures.fetch_add(1);
        }
    }
    bool has_done(int64_t id) {
        std::lock_guard<std::mutex> lock(mu);
        return done_text.count(id) != 0;
    }
};

// Invariants of one state() snapshot; any thread.
void check_state(const field_map & st) {
    const int64_t pos_next = get_i(st, "pos_next");
    CHECK(get_i(st, "prefix_evals") == 1);
    CHECK(get_i(st, "pos_min") == 0);
    CHECK(get_i(st, "pos_max") == pos_next - 1);
    if (get_i(st, "pos_max") != pos_next - 1) {
        std::fprintf(stderr, "  pos_max %lld, pos_next %lld\n", static_cast<long long>(get_i(st, "pos_max")),
                     static_cast<long long>(pos_next));
    }
    CHECK(get_i(st, "data_count") >= 0);
    CHECK(get_i(st, "data_count") <= get_i(st, "window_size"));
    CHECK(get_i(st, "prefix_end") <= pos_next);
    CHECK(get_i(st, "data_tokens") == pos_next - get_i(st, "prefix_end"));
    CHECK(pos_next <= get_i(st, "context_size"));
    CHECK(get_i(st, "queue_size") >= 0);
    CHECK(get_i(st, "items_processed") + get_i(st, "skipped") <= get_i(st, "total_enqueued"));
    CHECK(get_i(st, "items_processed") <= get_i(st, "tokenized"));
    CHECK(get_i(st, "tokenized") <= get_i(st, "total_enqueued"));
    CHECK(get_i(st, "ring_size") <= get_i(st, "queue_size"));
    CHECK(!get_b(st, "error"));
}

// Every snapshot call a client can make, in a loop, from its own thread.
struct reader {
    std::vector<std::shared_ptr<session>> sessions;
    std::atomic<bool>                     stop{false};
    std::atomic<int64_t>                  rounds{0};

    void run() {
        std::map<const session *, int64_t> last_version;
        while (!stop.load()) {
            for (const auto & s : sessions) {
                const field_map st = s->state();
                check_state(st);
                const int64_t version = get_i(st, "data_version");
                CHECK(version >= last_version[s.get()]);
                last_version[s.get()] = version;

                const field_map stats = s->stats();
                CHECK(get_s(stats, "type") == record_type_name(s->type()));
                CHECK(get_i(stats, "count") <= s->window_size());

                for (const field_map & q : s->list_flash()) {
                    CHECK(get_i(q, "id") > 0);
                    CHECK(get_i(q, "max_tokens") == 4);
                }
                const std::string text = s->context_text();
                CHECK(text.find(record_header(s->type())) != std::string::npos);

                const std::vector<field_map> slots = s->slots();
                CHECK(slots.size() == 3);
                if (slots.size() == 3) {
                    CHECK(get_i(slots[0], "start") == 0);
                    CHECK(get_i(slots[0], "end") == get_i(slots[1], "start"));
                    CHECK(get_i(slots[1], "end") == get_i(slots[2], "start"));
                    CHECK(get_i(slots[2], "end") == s->n_ctx());
                    CHECK(get_i(slots[2], "n_tokens") >= 0);
                }
                if (const auto cached = s->cached_answer("What is the last close?")) {
                    CHECK(get_i(*cached, "id") > 0);
                }
            }
            rounds.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
};

// Stops and joins helper threads on every way out of a scope (a REQUIRE or
// an unexpected exception must not leave a joinable std::thread behind).
struct joiner {
    std::function<void()>      stop;
    std::vector<std::thread *> threads;
    ~joiner() {
        stop();
        for (std::thread * t : threads) {
            if (t->joinable()) {
                t->join();
            }
        }
    }
};

// The event loop's part: wait on the eventfd, drain.
struct drainer {
    event_queue &     queue;
    event_log &       log;
    std::atomic<bool> stop{false};

    void run() {
        for (;;) {
            const bool last = stop.load(); // one more drain after stop
            pollfd p{queue.fd(), POLLIN, 0};
            poll(&p, 1, 20);
            for (const event & ev : queue.drain()) {
                log.take(ev);
            }
            if (last) {
                return;
            }
        }
    }
};

// For a failed wait: where the session's records are.
void dump_state(const session & s) {
    const field_map st = s.state();
    std::fprintf(stderr, "  session %s:", s.id().c_str());
    for (const char * key : {"total_enqueued", "ring_size", "tokenized", "queue_size", "items_processed", "skipped",
                             "batches_processed", "data_count", "pos_next", "data_version", "flash_runs"}) {
        std::fprintf(stderr, " %s %lld", key, static_cast<long long>(get_i(st, key)));
    }
    std::fprintf(stderr, " queued_stream %d queued_flash %d flash_dirty %d error %d\n",
                 static_cast<int>(s.queued_stream.load()), static_cast<int>(s.queued_flash.load()),
                 static_cast<int>(s.flash_dirty()), static_cast<int>(get_b(st, "error")));
}

// Nothing of the session is in flight: every record pushed was decoded or skipped.
bool idle(const session & s) {
    const field_map st = s.state();
    return get_i(st, "queue_size") == 0 &&
           get_i(st, "items_processed") + get_i(st, "skipped") == get_i(st, "total_enqueued");
}

// After a burst: two single records, each decoded before the next, into a
// window the burst filled, so each evicts (whatever the burst timing was).
int64_t trickle(engine & eng, session & s, const std::function<record()> & next) {
    int64_t pushed = 0;
    for (int i = 0; i < 2; ++i) {
        const int64_t evicted = get_i(s.state(), "evicted");
        std::vector<record> one = {next()};
        pushed += eng.push(s, std::move(one)).pushed;
        if (!wait_until([&] { return idle(s); }, std::chrono::seconds(60))) {
            CHECK(!"idle within 60 s");
            dump_state(s);
        }
        CHECK(get_i(s.state(), "evicted") > evicted);
    }
    return pushed;
}

void check_idle_counts(const session & s, int64_t pushed, bool window_full) {
    const field_map st = s.state();
    check_state(st);
    std::printf("  session %s: enqueued %lld, processed %lld, skipped %lld, evicted %lld, batches %lld, "
                "flash runs %lld, window %lld, data_version %lld\n",
                s.id().c_str(), static_cast<long long>(get_i(st, "total_enqueued")),
                static_cast<long long>(get_i(st, "items_processed")), static_cast<long long>(get_i(st, "skipped")),
                static_cast<long long>(get_i(st, "evicted")), static_cast<long long>(get_i(st, "batches_processed")),
                static_cast<long long>(get_i(st, "flash_runs")), static_cast<long long>(get_i(st, "window_size")),
                static_cast<long long>(get_i(st, "data_version")));
    CHECK(get_i(st, "total_enqueued") == pushed); // the ring is large enough: nothing dropped
    CHECK(get_i(st, "total_dropped") == 0);
    CHECK(get_i(st, "total_enqueued") ==
          get_i(st, "items_processed") + get_i(st, "skipped") + get_i(st, "queue_size"));
    CHECK(get_i(st, "queue_size") == 0);
    CHECK(get_i(st, "items_processed") > 0);
    CHECK(get_i(st, "skipped") > 0); // bursts larger than the window: the backlog is skipped
    CHECK(get_i(st, "evicted") > 0);
    CHECK(get_i(st, "data_count") > 0);
    if (window_full) {
        // Records only (no token limit reached first): the window is full.
        CHECK(get_i(st, "data_count") == get_i(st, "window_size"));
    }
    CHECK(get_i(st, "data_version") >= get_i(st, "batches_processed"));
    const field_map stats = s.stats();
    CHECK(get_i(stats, "count") == get_i(st, "data_count"));
}

const char * const Q_CLOSE  = "What is the last close?";
const char * const Q_RISING = "Is the price going up?";

void test_engine(const std::string & model_path) {
    const auto t_start = clock_type::now();
    engine_params ep;
    ep.model_path     = model_path;
    ep.n_ctx          = 512;
    ep.n_threads      = 1;  // see STREAMINFER_TEST_THREADS in tests/cpp/CMakeLists.txt
    if (const char * t = std::getenv("STREAMINFER_TEST_THREADS")) {
        ep.n_threads = std::atoi(t);
    }
    ep.queue_capacity = 1024;
    engine eng(ep);

    session_config ca;
    ca.id            = "a";
    ca.type          = RECORD_TYPE_OHLCV;
    ca.system_prompt = "You watch a market feed. Answer briefly.";
    ca.n_ctx         = 512;
    ca.flash         = {{Q_CLOSE, 4}, {Q_RISING, 4}};
    const std::shared_ptr<session> a = eng.create_session(ca);

    session_config cb;
    cb.id          = "b";
    cb.type        = RECORD_TYPE_IOT;
    cb.n_ctx       = 512;
    cb.window_size = 6;
    const std::shared_ptr<session> b = eng.create_session(cb);
    std::printf("  model loaded, sessions open: %.1f s (window a %d, b %d)\n", seconds_since(t_start),
                a->window_size(), b->window_size());

    REQUIRE(a && b);
    CHECK(eng.find("a") == a);
    CHECK(eng.find("b") == b);
    CHECK(eng.find("c") == nullptr);
    CHECK(eng.sessions().size() == 2);
    CHECK_THROWS(eng.create_session(cb), std::invalid_argument); // id in use
    CHECK(a->window_size() >= 2);
    CHECK(b->window_size() == 6);
    CHECK(a->list_flash().size() == 2);
    CHECK(b->list_flash().empty());
    for (const auto & s : {a, b}) {
        const field_map st = s->state();
        check_state(st);
        CHECK(get_i(st, "data_count") == 0);
        CHECK(get_i(st, "data_version") == 0);
        CHECK(get_i(st, "pos_next") == get_i(st, "n_prefix_tokens"));
        CHECK(get_b(st, "running"));
    }

    event_log log;
    drainer   drain{eng.events(), log};
    reader    read;
    read.sessions = {a, b};
    std::thread drain_thread([&] { drain.run(); });
    std::thread read_thread([&] { read.run(); });
    const joiner join_helpers{[&] {
                                  read.stop.store(true);
                                  drain.stop.store(true);
                              },
                              {&read_thread, &drain_thread}};

    // append_text + mark_prefix while b's (empty) stream and the threads run.
    const int64_t prefix0 = get_i(a->state(), "pos_next");
    const field_map appended = eng.append_text(a, "Note: prices are in US dollars.\n");
    const int64_t n_added = get_i(appended, "n_tokens_added");
    CHECK(n_added > 0);
    CHECK(get_i(appended, "total_tokens") == prefix0 + n_added);
    CHECK(get_i(appended, "pos_max") == prefix0 + n_added - 1);
    CHECK(a->data_version() == 1);
    CHECK(a->context_text().find("Note: prices are in US dollars.\n") != std::string::npos);
    const field_map marked = eng.mark_prefix(a);
    CHECK(get_i(marked, "prefix_end") == prefix0 + n_added);
    CHECK(get_i(marked, "n_records_frozen") == 0);
    CHECK(a->n_prefix_tokens() == prefix0 + n_added);
    CHECK_THROWS(eng.append_text(a, std::string(4000, 'x')), context_full_error);

    // Bursts from this thread, the single producer of both rings.
    constexpr int     N_BURSTS   = 8;
    constexpr int     BURST      = 40;
    constexpr int     B_BURSTS   = 4; // then b goes away
    int64_t           pushed_a = 0, pushed_b = 0, next_a = 0, next_b = 0;
    std::vector<std::pair<int64_t, bool>> requests; // id, has a stop string
    int64_t           flash_b = 0;
    int64_t           version_before = a->data_version();

    for (int k = 0; k < N_BURSTS; ++k) {
        std::vector<record> recs;
        for (int i = 0; i < BURST; ++i) {
            recs.push_back(ohlcv_record(next_a++));
        }
        const push_result r = eng.push(*a, std::move(recs));
        CHECK(r.pushed == BURST);
        CHECK(r.dropped == 0);
        pushed_a += r.pushed;
        CHECK(r.total_enqueued == pushed_a);
        CHECK(r.queue_capacity == 1024);
        if (k < B_BURSTS) {
            std::vector<record> rb;
            for (int i = 0; i < BURST; ++i) {
                rb.push_back(iot_record(next_b++));
            }
            const push_result pb = eng.push(*b, std::move(rb));
            CHECK(pb.pushed == BURST);
            pushed_b += pb.pushed;
        }
        switch (k) {
            case 1:
                requests.emplace_back(eng.generate(a, "What was the highest high?", 8, {}), false);
                break;
            case 2: {
                // Register a flash query on b mid-stream; its key ignores spacing.
                const field_map f = eng.register_flash(b, "What is the last value?", 4);
                flash_b = get_i(f, "id");
                CHECK(flash_b > 0);
                CHECK(get_i(f, "total_flash_queries") == 1);
                CHECK_THROWS(eng.register_flash(b, "  What is the   last value? ", 4), duplicate_error);
                CHECK_THROWS(eng.register_flash(b, " \n ", 4), std::invalid_argument);
                CHECK(b->list_flash().size() == 1);
                break;
            }
            case 3:
                requests.emplace_back(eng.generate(b, "Which sensor reported last?", 8, {}), false);
                break;
            case 4: {
                CHECK(b->delete_flash(static_cast<int32_t>(flash_b)));
                CHECK(!b->delete_flash(static_cast<int32_t>(flash_b)));
                CHECK(b->list_flash().empty());
                // b is done: once its backlog and its generate are through, check
                // its figures and destroy it while a keeps streaming.
                const int64_t gen_b = requests.back().first;
                if (!wait_until([&] { return idle(*b) && log.has_done(gen_b); }, std::chrono::seconds(120))) {
                    CHECK(!"b idle and its generate done within 120 s");
                    dump_state(*b);
                    std::fprintf(stderr, "  generate %lld done: %d\n", static_cast<long long>(gen_b),
                                 static_cast<int>(log.has_done(gen_b)));
                }
                pushed_b += trickle(eng, *b, [&] { return iot_record(next_b++); });
                check_idle_counts(*b, pushed_b, true);
                // A client registering and deleting flash queries while the
                // session goes away: each call either works or says closed.
                std::atomic<bool> flasher_started{false};
                std::atomic<bool> flasher_stop{false};
                std::thread       flasher([&] {
                    for (int i = 0; !b->closed() && !flasher_stop.load(); ++i) {
                        try {
                            const field_map f = eng.register_flash(b, "Anything new " + std::to_string(i) + "?", 4);
                            b->delete_flash(static_cast<int32_t>(get_i(f, "id")));
                        } catch (const closed_error &) {
                        }
                        flasher_started.store(true);
                    }
                });
                const joiner join_flasher{[&] { flasher_stop.store(true); }, {&flasher}};
                while (!flasher_started.load()) {
                    std::this_thread::yield();
                }
                CHECK(eng.destroy_session("b"));
                flasher.join();
                CHECK(b->closed());
                CHECK(b->list_flash().empty());
                CHECK(!eng.destroy_session("b"));
                CHECK(eng.find("b") == nullptr);
                CHECK(eng.sessions().size() == 1);
                std::vector<record> late = {iot_record(next_b++)};
                CHECK_THROWS(eng.push(*b, std::move(late)), closed_error);
                CHECK_THROWS(eng.generate(b, "Anything?", 8, {}), closed_error);
                CHECK_THROWS(eng.register_flash(b, "Anything new?", 4), closed_error);
                CHECK(!get_b(b->state(), "running"));
                break;
            }
            case 5:
                requests.emplace_back(eng.generate(a, "What is the last close?", 8, {"\n\n"}), true);
                break;
            default:
                break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    std::printf("  bursts pushed: %.1f s\n", seconds_since(t_start));

    // Let a finish: backlog, generate requests, then flash answers for the
    // final data version.
    if (!wait_until([&] { return idle(*a); }, std::chrono::seconds(120))) {
        CHECK(!"a idle within 120 s");
        dump_state(*a);
    }
    pushed_a += trickle(eng, *a, [&] { return ohlcv_record(next_a++); });
    CHECK(wait_until(
        [&] {
            for (const auto & [id, has_stop] : requests) {
                if (!log.has_done(id)) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(120)));
    CHECK(wait_until(
        [&] {
            const int64_t version = a->data_version();
            for (const field_map & q : a->list_flash()) {
                if (!get_b(q, "has_answer") || get_i(q, "data_version") != version) {
                    return false;
                }
            }
            return true;
        },
        std::chrono::seconds(120)));
    // The drainer has seen the last data_updated and a flash answer.
    CHECK(wait_until(
        [&] {
            std::lock_guard<std::mutex> lock(log.mu);
            return log.last_version["a"] == a->data_version() && log.flash_ready["a"] > 0;
        },
        std::chrono::seconds(30)));
    std::printf("  idle: %.1f s\n", seconds_since(t_start));

    check_idle_counts(*a, pushed_a, false);
    CHECK(a->data_version() > version_before);
    CHECK(get_i(a->state(), "prefix_end") == prefix0 + n_added); // mark_prefix held, nothing re-decoded
    const auto cached = a->cached_answer("  What is the last   close? ");
    CHECK(cached.has_value());
    if (cached) {
        CHECK(get_i(*cached, "data_version") == a->data_version());
    }
    CHECK(!a->cached_answer("Not a registered question?").has_value());
    CHECK(a->context_text().find(format_record(ohlcv_record(next_a - 1))) != std::string::npos); // the newest record

    {
        std::lock_guard<std::mutex> lock(log.mu);
        CHECK(log.errors.empty());
        for (const auto & [id, has_stop] : requests) {
            CHECK(log.done_text.count(id) == 1);
            CHECK(log.done_n_tokens[id] >= 0);
            CHECK(log.done_n_tokens[id] <= 8);
            const std::string & text = log.done_text[id];
            const std::string & sent = log.streamed[id];
            // Streamed pieces add up to the text; a stop string may cut it shorter.
            CHECK(has_stop ? sent.compare(0, text.size(), text) == 0 : sent == text);
        }
        CHECK(log.data_updated["a"] > 0);
        CHECK(log.data_updated["b"] > 0);
        CHECK(log.flash_ready["a"] > 0);
        CHECK(log.last_version["a"] == a->data_version());
    }

    eng.close();
    eng.close(); // idempotent
    CHECK(eng.closed());
    CHECK(a->closed());
    CHECK(eng.sessions().empty());
    std::vector<record> late = {ohlcv_record(next_a)};
    CHECK_THROWS(eng.push(*a, std::move(late)), closed_error);
    CHECK_THROWS(eng.generate(a, "Anything?", 8, {}), closed_error);
    CHECK_THROWS(eng.append_text(a, "more\n"), closed_error);
    CHECK_THROWS(eng.create_session(ca), closed_error);

    read.stop.store(true);
    drain.stop.store(true);
    read_thread.join();
    drain_thread.join();
    CHECK(read.rounds.load() > 10);
    std::printf("  closed: %.1f s, %lld reader rounds, %lld events\n", seconds_since(t_start),
                static_cast<long long>(read.rounds.load()), static_cast<long long>(log.n_events));
}

struct test_case {
    const char *          name;
    std::function<void()> fn;
};

} // namespace

int main(int argc, char ** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress lines interleave with stderr when piped
    const char * env_model = std::getenv("STREAMINFER_TEST_MODEL");
    const std::string model_path = argc > 1 ? argv[1] : env_model != nullptr ? env_model : "";
    if (model_path.empty()) {
        std::fprintf(stderr, "usage: %s MODEL.gguf (or set STREAMINFER_TEST_MODEL)\n", argv[0]);
        return 2;
    }

    const test_case cases[] = {
        {"format_record", test_format_record},
        {"record_header_and_names", test_record_header_and_names},
        {"check_number", test_check_number},
        {"format_number", test_format_number},
        {"normalize_question", test_normalize_question},
        {"window_stats_ohlcv", test_window_stats_ohlcv},
        {"window_stats_iot", test_window_stats_iot},
        {"window_stats_vitals", test_window_stats_vitals},
        {"window_stats_event_spatial", test_window_stats_event_spatial},
        {"kv_window_bookkeeping", test_kv_window_bookkeeping},
        {"event_queue", test_event_queue},
        {"engine", [&] { test_engine(model_path); }},
    };
    int passed = 0, failed = 0;
    for (const test_case & tc : cases) {
        const int64_t before = g_failures.load();
        const auto    t0     = clock_type::now();
        bool          ok     = true;
        try {
            tc.fn();
        } catch (const require_failure &) {
            ok = false;
        } catch (const std::exception & e) {
            std::fprintf(stderr, "%s: unexpected exception: %s\n", tc.name, e.what());
            ok = false;
        }
        ok = ok && g_failures.load() == before;
        std::printf("%s %s (%.2f s)\n", ok ? "ok  " : "FAIL", tc.name, seconds_since(t0));
        std::fflush(stdout);
        (ok ? passed : failed) += 1;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
