// The engine scenario's helpers (test-engine-scenario.cpp): the records it
// streams, the threads that stand for its clients (a reader taking every
// snapshot, a drainer emptying the event queue) and the invariants they
// check.
#pragma once

#include "engine.h"
#include "test-support.h"

#include <poll.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace streaminfer_test {

using namespace streaminfer;

// The engine the tests run: a 512-token context, STREAMINFER_TEST_THREADS
// decode threads (1 when unset; see tests/cpp/CMakeLists.txt), and
// `queue_capacity` records per session.
engine_params test_engine_params(const std::string & model_path, int32_t queue_capacity);

// Polls `done` every 10 ms until it holds or `limit` passes.
inline bool wait_until(const std::function<bool()> & done, std::chrono::seconds limit) {
    const auto deadline = clock_type::now() + limit;
    while (!done()) {
        if (clock_type::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

inline record ohlcv_record(int64_t i) {
    const double base = 100.0 + static_cast<double>(i % 17) * 0.5;
    return make_record(RECORD_TYPE_OHLCV, {base, base + 1.25, base - 0.75, base + 0.5, static_cast<double>(1000 + i)},
                       {}, T0 + 60 * i);
}

inline record iot_record(int64_t i) {
    const double value = 20.0 + static_cast<double>(i % 13) * 1.5;
    return make_record(RECORD_TYPE_IOT, {value, 18, 35, 0, 0}, {i % 2 == 0 ? "temp-01" : "temp-02", ""}, T0 + 15 * i);
}

// What the drainer thread saw (guarded by mu).
struct event_log {
    std::mutex                     mu;
    std::map<int64_t, std::string> done_text;     // generate_done by request id
    std::map<int64_t, int64_t>     done_n_tokens;
    std::map<int64_t, std::string> streamed;      // token pieces by request id, joined
    std::map<std::string, int64_t> data_updated;  // by session
    std::map<std::string, int64_t> last_version;  // by session, from data_updated
    std::map<std::string, int64_t> flash_ready;   // by session
    std::vector<std::string>       errors;        // error / generate_error messages
    std::map<int64_t, std::string> generate_errors; // generate_error message by request id
    int64_t                        n_events = 0;

    void take(const event & ev);
    bool has_done(int64_t id) {
        std::lock_guard<std::mutex> lock(mu);
        return done_text.count(id) != 0;
    }
    bool has_ended(int64_t id) { // generate_done or generate_error
        std::lock_guard<std::mutex> lock(mu);
        return done_text.count(id) != 0 || generate_errors.count(id) != 0;
    }
};

// Invariants of one state() snapshot; any thread.
void check_state(const session_state & st);

// Every snapshot call a client can make, in a loop, from its own thread.
struct reader {
    std::vector<std::shared_ptr<session>> sessions;
    std::atomic<bool>                     stop{false};
    std::atomic<int64_t>                  rounds{0};

    void run();
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

// For a failed wait: where the session's records are.
void dump_state(const session & s);

// Nothing of the session is in flight: every record pushed was decoded or skipped.
inline bool idle(const session & s) {
    const session_state st = s.state();
    return st.queue_size == 0 && st.counters.items_processed + st.counters.skipped == st.counters.total_enqueued;
}

// Waits (60 s at most) until the session is idle; a CHECK and a dump when not.
void wait_idle(const session & s, std::chrono::seconds limit);

// After a burst: two single records, each decoded before the next, into a
// window the burst filled, so each evicts (whatever the burst timing was).
int64_t trickle(engine & eng, session & s, const std::function<record()> & next);

// The figures of an idle session that `pushed` records went into.
void check_idle_counts(const session & s, int64_t pushed, bool window_full);

// The latency phase (test-engine-latency.cpp): a session of its own, a known
// workload, then its stage counts and generate counters. Needs the drainer
// feeding `log`.
void check_stage_latencies(engine & eng, event_log & log);

} // namespace streaminfer_test
