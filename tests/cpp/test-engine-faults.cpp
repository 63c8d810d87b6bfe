// The engine on a real model, at its bounds and under faults: the backlog
// bound while the decode thread is busy, room for a flash query registered
// on a full window, mark_prefix on a full context, two creates racing for
// one id, and close() in the middle of a generation with more queued.
// Each case has an engine of its own; a drainer thread empties its events.

#include "engine-harness.h"

#include <stdexcept>
#include <thread>

namespace streaminfer_test {
namespace {

// Long enough to wait for; the bound only turns a hang into a failure.
constexpr auto WAIT = std::chrono::seconds(300);

std::vector<record> ohlcv_batch(int64_t first, int64_t n) {
    std::vector<record> out;
    for (int64_t i = first; i < first + n; ++i) {
        out.push_back(ohlcv_record(i));
    }
    return out;
}

// An engine with its event drainer, stopped and joined on every way out.
struct rig {
    engine    eng;
    event_log log;
    drainer   drain{eng.events(), log};
    std::thread thread{[this] { drain.run(); }};

    rig(const std::string & model_path, int32_t queue_capacity) : eng(test_engine_params(model_path, queue_capacity)) {}
    ~rig() {
        drain.stop.store(true);
        thread.join();
    }
};

// While a long generation holds the decode thread, pushes pile up: the
// backlog (ring + tokenized + in decode) never passes queue_capacity, and
// what does not fit is dropped and counted.
void backlog_is_bounded(const std::string & model_path) {
    constexpr int32_t CAPACITY = 10;
    rig r(model_path, CAPACITY);
    session_config cfg;
    cfg.id = "backlog";
    cfg.n_ctx = 512;
    std::shared_ptr<session> s = r.eng.create_session(cfg);
    const int64_t rid = r.eng.generate(s, "Count from one to one hundred.", 200, {});
    int64_t pushed  = 0;
    int64_t dropped = 0;
    for (int64_t i = 0; i < 60; ++i) {
        const push_result p = r.eng.push(*s, ohlcv_batch(i * 5, 5));
        pushed += p.pushed;
        dropped += p.dropped;
        CHECK(p.queue_capacity == CAPACITY);
        CHECK(p.queue_size <= CAPACITY);
        CHECK(s->state().queue_size <= CAPACITY);
        std::this_thread::sleep_for(std::chrono::milliseconds(2)); // let the tokenizer move them on
    }
    CHECK(dropped > 0);
    wait_idle(*s, WAIT);
    const session_state st = s->state();
    CHECK(st.counters.total_enqueued == pushed);
    CHECK(st.counters.total_dropped == dropped);
    CHECK(st.counters.items_processed + st.counters.skipped == pushed);
    CHECK(wait_until([&] { return r.log.has_ended(rid); }, WAIT));
}

// A 256-token flash query registered on a window that fills the data
// room: the next flash run evicts to make room, and decodes.
void flash_registered_on_a_full_window(const std::string & model_path) {
    rig r(model_path, 1024);
    session_config cfg;
    cfg.id = "flash-room";
    cfg.n_ctx = 512;
    std::shared_ptr<session> s = r.eng.create_session(cfg);
    r.eng.push(*s, ohlcv_batch(0, 20));
    wait_idle(*s, WAIT);
    const flash_info q = r.eng.register_flash(s, "What is the last close?", MAX_FLASH_TOKENS);
    CHECK(wait_until([&] {
        std::lock_guard<std::mutex> lock(r.log.mu);
        return r.log.flash_ready.count("flash-room") != 0 || !r.log.errors.empty();
    }, WAIT));
    const session_state st = s->state();
    CHECK(!st.error);
    CHECK(st.pos_next + q.n_tokens + q.max_tokens <= st.context_size);
    std::lock_guard<std::mutex> lock(r.log.mu);
    CHECK(r.log.errors.empty());
}

// mark_prefix until it is refused: never so far that no window of
// MIN_WINDOW_RECORDS records fits; records still decode afterwards.
void mark_prefix_on_a_full_context(const std::string & model_path) {
    rig r(model_path, 1024);
    session_config cfg;
    cfg.id = "freeze";
    cfg.n_ctx = 512;
    std::shared_ptr<session> s = r.eng.create_session(cfg);
    bool refused = false;
    for (int i = 0; i < 60 && !refused; ++i) {
        r.eng.append_text(s, "the market opened quietly and traded sideways.\n");
        try {
            r.eng.mark_prefix(s);
        } catch (const context_full_error & e) {
            refused = std::string(e.what()).find("window of") != std::string::npos;
        }
    }
    CHECK(refused);
    const int64_t version = s->data_version();
    r.eng.push(*s, ohlcv_batch(0, MIN_WINDOW_RECORDS));
    wait_idle(*s, WAIT);
    const session_state st = s->state();
    CHECK(st.counters.items_processed == MIN_WINDOW_RECORDS);
    CHECK(st.data_count == MIN_WINDOW_RECORDS);
    CHECK(st.data_version > version);
}

// Creates racing for one id: one wins, the others are refused, and only
// the winner is registered.
void duplicate_ids_race(const std::string & model_path) {
    rig r(model_path, 1024);
    constexpr int N = 4;
    std::atomic<int> created{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < N; ++i) {
        threads.emplace_back([&] {
            session_config cfg;
            cfg.id    = "same";
            cfg.n_ctx = 512;
            try {
                r.eng.create_session(cfg);
                created.fetch_add(1);
            } catch (const std::invalid_argument &) {
                refused.fetch_add(1);
            }
        });
    }
    for (std::thread & t : threads) {
        t.join();
    }
    CHECK(created.load() == 1);
    CHECK(refused.load() == N - 1);
    CHECK(r.eng.sessions().size() == 1);
    session_config again;
    again.id = "same";
    bool refused_again = false;
    try {
        r.eng.create_session(again);
    } catch (const std::invalid_argument &) {
        refused_again = true;
    }
    CHECK(refused_again);
}

// close() during a long generation: it stops at its next step (a
// generate_error, no generate_done), the one queued behind it ends too, and
// a call after close fails at once.
void close_interrupts_decoding(const std::string & model_path) {
    rig r(model_path, 1024);
    session_config cfg;
    cfg.id = "closing";
    cfg.n_ctx = 512;
    std::shared_ptr<session> s = r.eng.create_session(cfg);
    const int64_t running = r.eng.generate(s, "Count from one to one thousand.", 400, {});
    const int64_t queued  = r.eng.generate(s, "Count from one to one thousand.", 400, {});
    CHECK(wait_until([&] {
        std::lock_guard<std::mutex> lock(r.log.mu);
        return r.log.streamed.count(running) != 0;
    }, WAIT));
    r.eng.close();
    CHECK(wait_until([&] { return r.log.has_ended(running) && r.log.has_ended(queued); }, WAIT));
    {
        std::lock_guard<std::mutex> lock(r.log.mu);
        CHECK(r.log.done_text.count(running) == 0);
        CHECK(r.log.generate_errors.count(running) == 1);
        CHECK(r.log.generate_errors.count(queued) == 1);
    }
    bool closed_error = false;
    try {
        r.eng.mark_prefix(s);
    } catch (const engine_closed_error &) {
        closed_error = true;
    }
    CHECK(closed_error);
}

} // namespace

void run_engine_faults(const std::string & model_path) {
    const std::pair<const char *, void (*)(const std::string &)> cases[] = {
        {"backlog_is_bounded", backlog_is_bounded},
        {"flash_registered_on_a_full_window", flash_registered_on_a_full_window},
        {"mark_prefix_on_a_full_context", mark_prefix_on_a_full_context},
        {"duplicate_ids_race", duplicate_ids_race},
        {"close_interrupts_decoding", close_interrupts_decoding},
    };
    for (const auto & [name, fn] : cases) {
        std::printf("  faults: %s\n", name);
        std::fflush(stdout);
        fn(model_path);
    }
}

} // namespace streaminfer_test
