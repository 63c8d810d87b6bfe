// kv_window's bookkeeping (kv-window.h) without a context.

#include "kv-window.h"
#include "test-support.h"

#include <utility>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

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

} // namespace

std::vector<test_case> kv_window_cases() {
    return {{"kv_window_bookkeeping", test_kv_window_bookkeeping}};
}

} // namespace streaminfer_test
