#include "engine-harness.h"

#include <cstdio>
#include <cstdlib>

namespace streaminfer_test {

engine_params test_engine_params(const std::string & model_path, int32_t queue_capacity) {
    engine_params ep;
    ep.model_path     = model_path;
    ep.n_ctx          = 512;
    ep.n_threads      = 1;
    if (const char * t = std::getenv("STREAMINFER_TEST_THREADS")) {
        ep.n_threads = std::atoi(t);
    }
    ep.queue_capacity = queue_capacity;
    return ep;
}

void event_log::take(const event & ev) {
    const std::string type = get_s(ev.fields, "type");
    const std::string sid  = get_s(ev.fields, "session_id");
    std::lock_guard<std::mutex> lock(mu);
    n_events += 1;
    if (type == "generate_done") {
        const int64_t id = get_i(ev.fields, "request_id");
        CHECK(done_text.count(id) == 0); // exactly one done per request
        done_text[id]     = get_s(ev.fields, "text");
        done_n_tokens[id] = get_i(ev.fields, "n_tokens");
        CHECK(get_i(ev.fields, "pos_next") > 0);
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
        if (type == "generate_error") {
            const int64_t id = get_i(ev.fields, "request_id");
            CHECK(done_text.count(id) == 0 && generate_errors.count(id) == 0); // one last event per request
            generate_errors[id] = message;
        }
    } else {
        std::fprintf(stderr, "unexpected event type %s\n", type.c_str());
        g_failures.fetch_add(1);
    }
}

void check_state(const session_state & st) {
    const session_counters & c = st.counters;
    CHECK(c.prefix_evals == 1);
    CHECK(st.pos_min == 0);
    CHECK(st.pos_max == st.pos_next - 1);
    if (st.pos_max != st.pos_next - 1) {
        std::fprintf(stderr, "  pos_max %d, pos_next %d\n", st.pos_max, st.pos_next);
    }
    CHECK(st.data_count >= 0);
    CHECK(st.data_count <= st.window_size);
    // prefix [0, prefix_end), data [prefix_end, pos_next), free [pos_next, context_size)
    CHECK(st.prefix_end >= 0);
    CHECK(st.prefix_end <= st.pos_next);
    CHECK(st.data_tokens == st.pos_next - st.prefix_end);
    CHECK(st.pos_next <= st.context_size);
    CHECK(st.queue_size >= 0);
    CHECK(c.items_processed + c.skipped <= c.total_enqueued);
    CHECK(c.items_processed <= c.tokenized);
    CHECK(c.tokenized <= c.total_enqueued);
    CHECK(st.ring_size <= st.queue_size);
    CHECK(!st.error);
}

void reader::run() {
    std::map<const session *, int64_t> last_version;
    while (!stop.load()) {
        for (const auto & s : sessions) {
            const session_state st = s->state();
            check_state(st);
            CHECK(st.type == s->type());
            CHECK(st.context_size == s->n_ctx());
            CHECK(st.window_size == s->window_size());
            CHECK(st.data_version >= last_version[s.get()]);
            last_version[s.get()] = st.data_version;

            const field_map stats = s->stats();
            CHECK(get_s(stats, "type") == record_type_name(s->type()));
            CHECK(get_i(stats, "count") <= s->window_size());

            for (const flash_info & q : s->list_flash()) {
                CHECK(q.id > 0);
                CHECK(q.max_tokens == 4);
            }
            const std::string text = s->context_text();
            CHECK(text.find(record_header(s->type())) != std::string::npos);
            if (const auto cached = s->cached_answer("What is the last close?")) {
                CHECK(cached->id > 0);
            }
        }
        rounds.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

void dump_state(const session & s) {
    const session_state      st = s.state();
    const session_counters & c  = st.counters;
    std::fprintf(stderr,
                 "  session %s: total_enqueued %lld ring_size %lld tokenized %lld queue_size %lld "
                 "items_processed %lld skipped %lld batches_processed %lld data_count %d pos_next %d "
                 "data_version %lld flash_runs %lld flash_stale %d error %d\n",
                 s.id().c_str(), static_cast<long long>(c.total_enqueued), static_cast<long long>(st.ring_size),
                 static_cast<long long>(c.tokenized), static_cast<long long>(st.queue_size),
                 static_cast<long long>(c.items_processed), static_cast<long long>(c.skipped),
                 static_cast<long long>(c.batches_processed), st.data_count, st.pos_next,
                 static_cast<long long>(st.data_version), static_cast<long long>(c.flash_runs),
                 static_cast<int>(s.flash_stale()), static_cast<int>(st.error));
}

void wait_idle(const session & s, std::chrono::seconds limit) {
    if (!wait_until([&] { return idle(s); }, limit)) {
        std::fprintf(stderr, "  session %s not idle within %lld s\n", s.id().c_str(),
                     static_cast<long long>(limit.count()));
        g_failures.fetch_add(1);
        dump_state(s);
    }
}

int64_t trickle(engine & eng, session & s, const std::function<record()> & next) {
    int64_t pushed = 0;
    for (int i = 0; i < 2; ++i) {
        const int64_t       evicted = s.state().counters.evicted;
        std::vector<record> one     = {next()};
        pushed += eng.push(s, std::move(one)).pushed;
        wait_idle(s, std::chrono::seconds(60));
        CHECK(s.state().counters.evicted > evicted);
    }
    return pushed;
}

void check_idle_counts(const session & s, int64_t pushed, bool window_full) {
    const session_state      st = s.state();
    const session_counters & c  = st.counters;
    check_state(st);
    std::printf("  session %s: enqueued %lld, processed %lld, skipped %lld, evicted %lld, batches %lld, "
                "flash runs %lld, window %d, data_version %lld\n",
                s.id().c_str(), static_cast<long long>(c.total_enqueued), static_cast<long long>(c.items_processed),
                static_cast<long long>(c.skipped), static_cast<long long>(c.evicted),
                static_cast<long long>(c.batches_processed), static_cast<long long>(c.flash_runs), st.window_size,
                static_cast<long long>(st.data_version));
    CHECK(c.total_enqueued == pushed); // the ring is large enough: nothing dropped
    CHECK(c.total_dropped == 0);
    CHECK(c.total_enqueued == c.items_processed + c.skipped + st.queue_size);
    CHECK(st.queue_size == 0);
    CHECK(c.items_processed > 0);
    CHECK(c.skipped > 0); // bursts larger than the window: the backlog is skipped
    CHECK(c.evicted > 0);
    CHECK(st.data_count > 0);
    if (window_full) {
        // Records only (no token limit reached first): the window is full.
        CHECK(st.data_count == st.window_size);
    }
    CHECK(st.data_version >= c.batches_processed);
    const field_map stats = s.stats();
    CHECK(get_i(stats, "count") == st.data_count);
}

} // namespace streaminfer_test
