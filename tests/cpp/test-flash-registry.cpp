// Flash queries without a model (flash-registry.h): the question key, the
// registry's limits and ids, and answers published for a data version.

#include "core-errors.h"
#include "core-limits.h"
#include "flash-registry.h"
#include "test-support.h"

#include <string>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

TEST_CASE(normalize_question) {
    CHECK(normalize_question("  What is   the\tlast\n close?  ") == "What is the last close?");
    CHECK(normalize_question("What is the last close?") == "What is the last close?");
    CHECK(normalize_question("") == "");
    CHECK(normalize_question(" \t\r\n ") == "");
    CHECK(normalize_question("a") == "a");
    CHECK(normalize_question("CASE kept") != normalize_question("case kept"));
    // Unicode White_Space in UTF-8 folds too: NBSP, ideographic space, em
    // space, line separator; other multi-byte characters are kept whole.
    CHECK(normalize_question("\u00a0What\u00a0is\u3000the \u2003last\u2028close?\u00a0") == "What is the last close?");
    CHECK(normalize_question("\u3000\u00a0 ") == "");
    CHECK(normalize_question("caf\u00e9 \u00a9 \u4e2d") == "caf\u00e9 \u00a9 \u4e2d");
}

std::vector<token_id> tokens(size_t n) { return std::vector<token_id>(n, 1); }

TEST_CASE(flash_registry_add_remove) {
    flash_registry r;
    const flash_info q = r.add("What is the last close?", 4, tokens(3), -1);
    CHECK(q.id == 1);
    CHECK(q.query == "What is the last close?");
    CHECK(q.max_tokens == 4);
    CHECK(q.n_tokens == 3);
    CHECK(!q.has_answer);
    CHECK(r.count() == 1);
    // The key ignores spacing, Unicode spaces included.
    CHECK_THROWS(r.add("  What is the\u00a0last   close? ", 4, tokens(3), -1), duplicate_error);
    try {
        r.add(" \n\u3000", 4, tokens(1), -1);
        CHECK(!"an empty query throws");
    } catch (const param_error & e) {
        CHECK(e.param == "query");
        CHECK(e.index == -1);
    }
    CHECK(r.add("Long?", 100000, tokens(2), -1).max_tokens == MAX_FLASH_TOKENS); // clamped
    CHECK(r.add("Short?", 0, tokens(2), -1).max_tokens == 1);
    CHECK(r.reserve() == 3 + 4 + 2 + MAX_FLASH_TOKENS + 2 + 1); // questions and answers
    // The budget must leave MIN_DATA_ROOM for data after every question and answer.
    CHECK_THROWS(r.add("Too big?", 4, tokens(10), 3 + 4 + 2 + 256 + 2 + 1 + 10 + 4 + MIN_DATA_ROOM - 1),
                 context_full_error);
    CHECK(r.add("Fits?", 4, tokens(10), 3 + 4 + 2 + 256 + 2 + 1 + 10 + 4 + MIN_DATA_ROOM).id == 4);
    CHECK(r.count() == 4);
    CHECK(r.remove(2));
    CHECK(!r.remove(2));
    const std::vector<flash_info> left = r.list();
    REQUIRE(left.size() == 3);
    CHECK(left[0].id == 1 && left[1].id == 3 && left[2].id == 4); // registration order
    for (int i = 0; r.count() < MAX_FLASH_QUERIES; ++i) {
        r.add("Filler " + std::to_string(i) + "?", 1, tokens(1), -1);
    }
    CHECK_THROWS(r.add("One too many?", 1, tokens(1), -1), limit_error);
}

TEST_CASE(flash_registry_answers) {
    flash_registry r;
    CHECK(r.reserve() == GENERATE_RESERVE); // the floor, for generate requests
    r.mark_stale();
    CHECK(!r.stale()); // nothing to answer
    std::vector<int32_t> ids;
    CHECK(r.take_jobs(ids).empty());
    const int32_t a = r.add("What is the last close?", 4, tokens(3), -1).id;
    const int32_t b = r.add("Is it rising?", 2, tokens(5), -1).id;
    r.mark_stale();
    CHECK(r.stale());
    std::vector<answer_job> jobs = r.take_jobs(ids);
    CHECK(!r.stale()); // taken
    REQUIRE(jobs.size() == 2);
    CHECK(ids == (std::vector<int32_t>{a, b}));
    CHECK(jobs[0].prompt.size() == 3 && jobs[0].max_tokens == 4);
    CHECK(jobs[1].seq_id == jobs[0].seq_id + 1);
    jobs[0].text = " 185.5\u00a0";
    jobs[1].text = "yes";
    CHECK(r.remove(b)); // deleted while it was being answered: skipped
    const std::vector<flash_info> changed = r.publish(ids, jobs, 7, 1000);
    REQUIRE(changed.size() == 1);
    CHECK(changed[0].id == a);
    CHECK(changed[0].value == "185.5");
    CHECK(changed[0].data_version == 7);
    CHECK(changed[0].evaluated_at == 1000);
    CHECK(r.publish({a}, {jobs[0]}, 8, 2000).empty()); // same answer: not a change

    const auto cached = r.cached("What is\u3000the last close?", 8);
    REQUIRE(cached.has_value());
    CHECK(cached->has_answer && cached->value == "185.5");
    CHECK(!r.cached("What is the last close?", 7).has_value()); // another data version
    CHECK(!r.cached("Is it rising?", 8).has_value());
}

} // namespace
} // namespace streaminfer_test
