// One engine run on a real model: two sessions streaming bursts from this
// thread (the one producer) while a reader thread takes every snapshot the
// API offers and a drainer thread empties the event queue; generate
// requests, a flash query registered and deleted mid-stream, append_text +
// mark_prefix, one session destroyed while the other keeps streaming, a
// third session's latency stages (test-engine-latency.cpp), then close().
// The phases run in order, each on what the ones before left.

#include "engine-harness.h"

#include <cstdio>
#include <stdexcept>
#include <utility>

namespace streaminfer_test {
namespace {

const char * const Q_CLOSE  = "What is the last close?";
const char * const Q_RISING = "Is the price going up?";

constexpr int     N_BURSTS = 8;
constexpr int     BURST    = 40;
constexpr int     B_BURSTS = 4; // then b goes away
constexpr int32_t QUEUE    = 1024;

class scenario {
public:
    explicit scenario(const std::string & model_path) : eng_(test_engine_params(model_path, QUEUE)) {}
    ~scenario() { stop_clients(); }

    void run() {
        open_sessions();
        start_clients();
        append_text_and_mark_prefix();
        push_burst();
        push_burst();
        ask_a_while_streaming();
        push_burst();
        register_and_refuse_flash_on_b();
        push_burst();
        ask_b_while_streaming();
        push_burst();
        destroy_b_while_a_streams();
        push_burst();
        ask_a_with_stop_string();
        while (burst_ < N_BURSTS) {
            push_burst();
        }
        std::printf("  bursts pushed: %.1f s\n", seconds_since(t_start_));
        wait_until_a_answered_everything();
        check_a_after_the_stream();
        check_events();
        check_stage_latencies(eng_, log_);
        close_engine();
    }

private:
    // Two sessions: a with flash queries and a system prompt, b with a small window.
    void open_sessions() {
        ca_.id            = "a";
        ca_.type          = RECORD_TYPE_OHLCV;
        ca_.system_prompt = "You watch a market feed. Answer briefly.";
        ca_.n_ctx         = 512;
        ca_.flash         = {{Q_CLOSE, 4}, {Q_RISING, 4}};
        a_                = eng_.create_session(ca_);

        session_config cb;
        cb.id          = "b";
        cb.type        = RECORD_TYPE_IOT;
        cb.n_ctx       = 512;
        cb.window_size = 6;
        b_             = eng_.create_session(cb);
        REQUIRE(a_ && b_);
        std::printf("  model loaded, sessions open: %.1f s (window a %d, b %d)\n", seconds_since(t_start_),
                    a_->window_size(), b_->window_size());

        CHECK(eng_.find("a") == a_);
        CHECK(eng_.find("b") == b_);
        CHECK(eng_.find("c") == nullptr);
        CHECK(eng_.sessions().size() == 2);
        CHECK_THROWS(eng_.create_session(cb), std::invalid_argument); // id in use
        CHECK(a_->window_size() >= 2);
        CHECK(b_->window_size() == 6);
        CHECK(a_->list_flash().size() == 2);
        CHECK(b_->list_flash().empty());
        for (const auto & s : {a_, b_}) {
            const session_state st = s->state();
            check_state(st);
            CHECK(st.data_count == 0);
            CHECK(st.data_version == 0);
            CHECK(st.pos_next == st.prefix_end); // the prefix only
            CHECK(st.queue_capacity == QUEUE);
            CHECK(st.running);
        }
    }

    void start_clients() {
        read_.sessions = {a_, b_};
        drain_thread_  = std::thread([this] { drain_.run(); });
        read_thread_   = std::thread([this] { read_.run(); });
    }

    void stop_clients() {
        read_.stop.store(true);
        drain_.stop.store(true);
        for (std::thread * t : {&read_thread_, &drain_thread_}) {
            if (t->joinable()) {
                t->join();
            }
        }
    }

    // While b's (empty) stream and the client threads run.
    void append_text_and_mark_prefix() {
        prefix0_                    = a_->state().pos_next;
        const append_result added = eng_.append_text(a_, "Note: prices are in US dollars.\n");
        n_added_                    = added.n_tokens_added;
        CHECK(n_added_ > 0);
        CHECK(added.pos_next == prefix0_ + n_added_);
        CHECK(a_->state().pos_max == prefix0_ + n_added_ - 1);
        CHECK(a_->data_version() == 1);
        CHECK(a_->context_text().find("Note: prices are in US dollars.\n") != std::string::npos);
        const prefix_mark marked = eng_.mark_prefix(a_);
        CHECK(marked.prefix_end == prefix0_ + n_added_);
        CHECK(marked.n_records_frozen == 0);
        CHECK(a_->state().prefix_end == prefix0_ + n_added_);
        CHECK_THROWS(eng_.append_text(a_, std::string(4000, 'x')), context_full_error);
        version_before_ = a_->data_version();
    }

    // One burst into a (and into b for its first B_BURSTS), then a pause.
    void push_burst() {
        std::vector<record> recs;
        for (int i = 0; i < BURST; ++i) {
            recs.push_back(ohlcv_record(next_a_++));
        }
        const push_result r = eng_.push(*a_, std::move(recs));
        CHECK(r.pushed == BURST);
        CHECK(r.dropped == 0);
        pushed_a_ += r.pushed;
        CHECK(r.total_enqueued == pushed_a_);
        CHECK(r.queue_capacity == QUEUE);
        if (burst_ < B_BURSTS) {
            std::vector<record> rb;
            for (int i = 0; i < BURST; ++i) {
                rb.push_back(iot_record(next_b_++));
            }
            const push_result pb = eng_.push(*b_, std::move(rb));
            CHECK(pb.pushed == BURST);
            pushed_b_ += pb.pushed;
        }
        burst_ += 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }

    void ask_a_while_streaming() {
        requests_.emplace_back(eng_.generate(a_, "What was the highest high?", 8, {}), false);
    }

    // A flash query on b mid-stream; its key ignores spacing.
    void register_and_refuse_flash_on_b() {
        const flash_info f = eng_.register_flash(b_, "What is the last value?", 4);
        flash_b_           = f.id;
        CHECK(flash_b_ > 0);
        CHECK(b_->flash_count() == 1);
        CHECK_THROWS(eng_.register_flash(b_, "  What is the   last value? ", 4), duplicate_error);
        CHECK_THROWS(eng_.register_flash(b_, " \n ", 4), param_error);
        CHECK(b_->list_flash().size() == 1);
    }

    void ask_b_while_streaming() {
        requests_.emplace_back(eng_.generate(b_, "Which sensor reported last?", 8, {}), false);
    }

    // b is done: once its backlog and its generate are through, check its
    // figures and destroy it while a keeps streaming.
    void destroy_b_while_a_streams() {
        CHECK(b_->delete_flash(flash_b_));
        CHECK(!b_->delete_flash(flash_b_));
        CHECK(b_->list_flash().empty());
        const int64_t gen_b = requests_.back().first;
        if (!wait_until([&] { return idle(*b_) && log_.has_done(gen_b); }, std::chrono::seconds(120))) {
            CHECK(!"b idle and its generate done within 120 s");
            dump_state(*b_);
            std::fprintf(stderr, "  generate %lld done: %d\n", static_cast<long long>(gen_b),
                         static_cast<int>(log_.has_done(gen_b)));
        }
        pushed_b_ += trickle(eng_, *b_, [&] { return iot_record(next_b_++); });
        check_idle_counts(*b_, pushed_b_, true);
        destroy_b_under_a_flash_client();
        CHECK(b_->closed());
        CHECK(b_->list_flash().empty());
        CHECK(!eng_.destroy_session("b"));
        CHECK(eng_.find("b") == nullptr);
        CHECK(eng_.sessions().size() == 1);
        std::vector<record> late = {iot_record(next_b_++)};
        CHECK_THROWS(eng_.push(*b_, std::move(late)), session_closed_error);
        CHECK_THROWS(eng_.generate(b_, "Anything?", 8, {}), session_closed_error);
        CHECK_THROWS(eng_.register_flash(b_, "Anything new?", 4), session_closed_error);
        CHECK(!b_->state().running);
    }

    // A client registering and deleting flash queries while the session
    // goes away: each call either works or says the session is closed.
    void destroy_b_under_a_flash_client() {
        std::atomic<bool> started{false};
        std::atomic<bool> stop{false};
        std::thread       flasher([&] {
            for (int i = 0; !b_->closed() && !stop.load(); ++i) {
                try {
                    const flash_info f = eng_.register_flash(b_, "Anything new " + std::to_string(i) + "?", 4);
                    b_->delete_flash(f.id);
                } catch (const session_closed_error &) {
                }
                started.store(true);
            }
        });
        const joiner join_flasher{[&] { stop.store(true); }, {&flasher}};
        while (!started.load()) {
            std::this_thread::yield();
        }
        CHECK(eng_.destroy_session("b"));
        flasher.join();
    }

    void ask_a_with_stop_string() {
        requests_.emplace_back(eng_.generate(a_, "What is the last close?", 8, {"\n\n"}), true);
    }

    // Backlog, generate requests, then flash answers for the final data version.
    void wait_until_a_answered_everything() {
        wait_idle(*a_, std::chrono::seconds(120));
        pushed_a_ += trickle(eng_, *a_, [&] { return ohlcv_record(next_a_++); });
        CHECK(wait_until(
            [&] {
                for (const auto & request : requests_) {
                    if (!log_.has_done(request.first)) {
                        return false;
                    }
                }
                return true;
            },
            std::chrono::seconds(120)));
        CHECK(wait_until(
            [&] {
                const int64_t version = a_->data_version();
                for (const flash_info & q : a_->list_flash()) {
                    if (!q.has_answer || q.data_version != version) {
                        return false;
                    }
                }
                return true;
            },
            std::chrono::seconds(120)));
        // The drainer has seen the last data_updated and a flash answer.
        CHECK(wait_until(
            [&] {
                std::lock_guard<std::mutex> lock(log_.mu);
                return log_.last_version["a"] == a_->data_version() && log_.flash_ready["a"] > 0;
            },
            std::chrono::seconds(30)));
        std::printf("  idle: %.1f s\n", seconds_since(t_start_));
    }

    void check_a_after_the_stream() {
        check_idle_counts(*a_, pushed_a_, false);
        CHECK(a_->data_version() > version_before_);
        CHECK(a_->state().prefix_end == prefix0_ + n_added_); // mark_prefix held, nothing re-decoded
        const auto cached = a_->cached_answer("  What is the last   close? ");
        CHECK(cached.has_value());
        if (cached) {
            CHECK(cached->data_version == a_->data_version());
        }
        CHECK(!a_->cached_answer("Not a registered question?").has_value());
        CHECK(a_->context_text().find(format_record(ohlcv_record(next_a_ - 1))) != std::string::npos); // the newest
    }

    void check_events() {
        std::lock_guard<std::mutex> lock(log_.mu);
        CHECK(log_.errors.empty());
        for (const auto & [id, has_stop] : requests_) {
            CHECK(log_.done_text.count(id) == 1);
            CHECK(log_.done_n_tokens[id] >= 0);
            CHECK(log_.done_n_tokens[id] <= 8);
            const std::string & text = log_.done_text[id];
            const std::string & sent = log_.streamed[id];
            // Streamed pieces add up to the text; a stop string may cut it shorter.
            CHECK(has_stop ? sent.compare(0, text.size(), text) == 0 : sent == text);
        }
        CHECK(log_.data_updated["a"] > 0);
        CHECK(log_.data_updated["b"] > 0);
        CHECK(log_.flash_ready["a"] > 0);
        CHECK(log_.last_version["a"] == a_->data_version());
    }

    void close_engine() {
        eng_.close();
        eng_.close(); // idempotent
        CHECK(eng_.closed());
        CHECK(a_->closed());
        CHECK(eng_.sessions().empty());
        std::vector<record> late = {ohlcv_record(next_a_)};
        CHECK_THROWS(eng_.push(*a_, std::move(late)), session_closed_error);
        CHECK_THROWS(eng_.generate(a_, "Anything?", 8, {}), engine_closed_error);
        CHECK_THROWS(eng_.append_text(a_, "more\n"), engine_closed_error);
        CHECK_THROWS(eng_.create_session(ca_), engine_closed_error);

        stop_clients();
        CHECK(read_.rounds.load() > 10);
        std::printf("  closed: %.1f s, %lld reader rounds, %lld events\n", seconds_since(t_start_),
                    static_cast<long long>(read_.rounds.load()), static_cast<long long>(log_.n_events));
    }

    const clock_type::time_point t_start_ = clock_type::now();
    engine                       eng_;
    session_config               ca_;
    std::shared_ptr<session>     a_, b_;

    event_log   log_;
    drainer     drain_{eng_.events(), log_};
    reader      read_;
    std::thread drain_thread_, read_thread_;

    int32_t prefix0_ = 0, n_added_ = 0;
    int64_t version_before_ = 0;
    int     burst_ = 0;
    int64_t pushed_a_ = 0, pushed_b_ = 0, next_a_ = 0, next_b_ = 0;
    int32_t flash_b_ = 0;
    std::vector<std::pair<int64_t, bool>> requests_; // id, has a stop string
};

} // namespace

void run_engine_scenario(const std::string & model_path) {
    scenario(model_path).run();
}

} // namespace streaminfer_test
