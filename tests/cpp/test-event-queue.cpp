// The event queue (event-queue.h): its eventfd, drop-oldest when full,
// never a request's last event.

#include "event-queue.h"
#include "test-support.h"

#include <poll.h>

#include <cstdint>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

bool fd_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST_CASE(event_queue) {
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

// A request's last event survives a full queue: the oldest other one goes.
TEST_CASE(event_queue_keeps_terminal_events) {
    event_queue q(3);
    q.push(event("generate_done", "s").set("request_id", int64_t{7}).ends_request());
    q.push(event("token", "s").set("request_id", int64_t{8}));
    q.push(event("generate_error", "s").set("request_id", int64_t{8}).ends_request());
    for (int64_t i = 0; i < 3; ++i) {
        q.push(event("data_updated", "s").set("data_version", i));
    }
    CHECK(q.dropped() == 3); // the token, then data_updated 0 and 1
    const std::vector<event> got = q.drain();
    REQUIRE(got.size() == 3);
    CHECK(get_s(got[0].fields, "type") == "generate_done");
    CHECK(get_s(got[1].fields, "type") == "generate_error");
    CHECK(get_i(got[2].fields, "data_version") == 2);

    // Only terminal events: the queue holds them all, past its capacity.
    for (int64_t i = 0; i < 5; ++i) {
        q.push(event("generate_done", "s").set("request_id", i).ends_request());
    }
    CHECK(q.drain().size() == 5);
    CHECK(q.dropped() == 3);
}

} // namespace
} // namespace streaminfer_test
