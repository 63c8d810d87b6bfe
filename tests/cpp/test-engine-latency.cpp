// The engine scenario's latency phase: a session of its own ("c"), which
// no client thread reads, takes a known workload (pushes each decoded before
// the next, a flash query, one generate, one cached answer, one generate
// cancelled at once); then each stage's count is checked against what the
// workload did and against the counters, and the generate counters add up.

#include "engine-harness.h"

#include <cstdio>

namespace streaminfer_test {
namespace {

constexpr int N_PUSHES = 4;
constexpr int PUSH_K   = 3; // records per push; N_PUSHES * PUSH_K outgrows the window, so it evicts

const char * const Q_LAST = "What is the last close?";

latency_snapshot stage(const session & s, const std::string & name) {
    for (const stage_latency & l : s.latencies()) {
        if (name == l.name) {
            return l.snapshot;
        }
    }
    std::fprintf(stderr, "no latency stage %s\n", name.c_str());
    g_failures.fetch_add(1);
    return {};
}

bool answered(const session & s) {
    const int64_t version = s.data_version();
    for (const flash_info & q : s.list_flash()) {
        if (!q.has_answer || q.data_version != version) {
            return false;
        }
    }
    return true;
}

bool generations_ended(const session & s) {
    const session_counters c = s.state().counters;
    return c.generate_completed + c.generate_failed + c.generate_cancelled == c.generate_requests;
}

} // namespace

void check_stage_latencies(engine & eng, event_log & log) {
    session_config cfg;
    cfg.id    = "c";
    cfg.type  = RECORD_TYPE_OHLCV;
    cfg.n_ctx = 512;
    cfg.flash = {{Q_LAST, 4}};
    const std::shared_ptr<session> c = eng.create_session(cfg);
    REQUIRE(c && c->window_size() >= PUSH_K && c->window_size() < N_PUSHES * PUSH_K);

    for (int p = 0; p < N_PUSHES; ++p) {
        std::vector<record> recs;
        for (int i = 0; i < PUSH_K; ++i) {
            recs.push_back(ohlcv_record(p * PUSH_K + i));
        }
        CHECK(eng.push(*c, std::move(recs)).pushed == PUSH_K);
        wait_idle(*c, std::chrono::seconds(60)); // nothing skipped: each push fits the window
    }
    CHECK(wait_until([&] { return answered(*c); }, std::chrono::seconds(120)));
    CHECK(c->cached_answer(Q_LAST).has_value());

    const int64_t id = eng.generate(c, "What was the highest high?", 8, {});
    CHECK(wait_until([&] { return log.has_done(id); }, std::chrono::seconds(120)));
    bool streamed = false;
    {
        std::lock_guard<std::mutex> lock(log.mu);
        streamed = !log.streamed[id].empty();
    }

    const session_state      st = c->state();
    const session_counters & n  = st.counters;
    std::printf("  session c: %lld records, %lld batches, %lld flash runs, %lld evicted\n",
                static_cast<long long>(n.tokenized), static_cast<long long>(n.batches_processed),
                static_cast<long long>(n.flash_runs), static_cast<long long>(n.evicted));
    CHECK(n.total_enqueued == N_PUSHES * PUSH_K);
    CHECK(n.skipped == 0);
    CHECK(n.evicted > 0);
    CHECK(stage(*c, "push").count == N_PUSHES);
    CHECK(stage(*c, "record_wait").count == n.tokenized);
    CHECK(stage(*c, "tokenize").count == n.tokenized);
    CHECK(n.tokenized == N_PUSHES * PUSH_K);
    CHECK(stage(*c, "decode_batch").count == n.batches_processed);
    CHECK(stage(*c, "kv_shift").count >= 1);
    CHECK(stage(*c, "kv_shift").count <= n.evicted); // only records in c's window
    CHECK(stage(*c, "flash_prefill").count == n.flash_runs);
    CHECK(stage(*c, "flash_answer").count == n.flash_runs);
    CHECK(stage(*c, "fresh_answer").count >= 1);
    CHECK(stage(*c, "fresh_answer").count <= n.flash_runs);
    CHECK(stage(*c, "generate_first_token").count == (streamed ? 1 : 0));
    CHECK(stage(*c, "generate_total").count == 1);
    // A record waits at least as long as its own tokenization; a generation
    // at least as long as its first token.
    CHECK(stage(*c, "record_wait").sum_us >= stage(*c, "tokenize").sum_us);
    CHECK(stage(*c, "generate_total").sum_us >= stage(*c, "generate_first_token").sum_us);
    CHECK(n.generate_requests == 1);
    CHECK(n.generate_completed == 1);
    CHECK(n.generate_failed == 0);
    CHECK(n.generate_cancelled == 0);
    CHECK(n.generate_cached == 1);
    CHECK(n.prefix_tokens == st.prefix_end); // no append, no mark_prefix
    CHECK(n.prefix_evals == 1);

    for (const stage_latency & l : c->latencies()) {
        const double p50 = latency_quantile(l.snapshot, 0.50);
        const double p95 = latency_quantile(l.snapshot, 0.95);
        const double p99 = latency_quantile(l.snapshot, 0.99);
        CHECK(0.0 <= p50 && p50 <= p95 && p95 <= p99);
        CHECK(p99 <= static_cast<double>(LATENCY_BOUNDS_US.back()));
        CHECK(l.snapshot.sum_us >= 0);
    }

    // A generation cancelled as soon as it is queued ends one way or the
    // other (it may have run to its end first); either way it is counted once.
    const int64_t long_id = eng.generate(c, "Write a very long story about prices.", 200, {});
    c->cancel(long_id);
    CHECK(wait_until([&] { return generations_ended(*c); }, std::chrono::seconds(120)));
    const session_counters after = c->state().counters;
    CHECK(after.generate_requests == 2);
    CHECK(after.generate_failed == 0);
    CHECK(after.generate_completed + after.generate_cancelled == 2);
    CHECK(stage(*c, "generate_total").count == after.generate_completed);
    CHECK(eng.destroy_session("c"));
}

} // namespace streaminfer_test
