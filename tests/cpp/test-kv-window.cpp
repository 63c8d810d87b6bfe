// kv_window's bookkeeping (kv-window.h) without a context.

#include "kv-window.h"
#include "test-support.h"

#include <utility>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

// Where the window's parts end, and what it holds.
void expect_window(const kv_window & w, int32_t prefix_end, int32_t pos_next, int32_t data_count, size_t n_entries) {
    CHECK(w.prefix_end() == prefix_end);
    CHECK(w.pos_next() == pos_next);
    CHECK(w.data_count() == data_count);
    CHECK(w.data_tokens() == pos_next - prefix_end);
    CHECK(w.entries().size() == n_entries);
}

TEST_CASE(kv_window_bookkeeping) {
    // No eviction is needed anywhere below, so make_room never touches the
    // (absent) context; eviction itself is exercised by the engine run.
    kv_window w(512, 3);
    w.set_prefix(20, "PREFIX\n");
    expect_window(w, 20, 20, 0, 0);
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
    expect_window(w, 20, 45, 2, 3); // the text entry is not a record

    const eviction none = w.make_room(nullptr, 1, 10, 400); // 3 records <= 3, 55 tokens <= 400
    CHECK(none.n_entries == 0);
    CHECK(none.n_records == 0);
    CHECK(none.n_tokens == 0);
    expect_window(w, 20, 45, 2, 3);

    CHECK(w.freeze() == 2);
    expect_window(w, 45, 45, 0, 0);
    CHECK(w.prefix_text() == "PREFIX\n1,2,0.5,1.5,100\n1,2,0.5,1.5,100\nnote\n");
    // Nothing left to evict: make_room reports nothing whatever is asked.
    const eviction after = w.make_room(nullptr, 5, 1000, 100);
    CHECK(after.n_entries == 0);
    CHECK(w.freeze() == 0);
}

} // namespace
} // namespace streaminfer_test
