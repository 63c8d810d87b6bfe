// The event queue (event-queue.h): its eventfd, drop-oldest when full.

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

} // namespace
} // namespace streaminfer_test
