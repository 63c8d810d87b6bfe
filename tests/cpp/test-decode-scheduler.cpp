// The decode scheduler (decode-scheduler.h) without sessions: control tasks
// in order, and what happens to tasks around stop().

#include "decode-scheduler.h"
#include "test-support.h"

#include <chrono>
#include <future>
#include <thread>
#include <vector>

using namespace streaminfer;

namespace streaminfer_test {
namespace {

// A future that is not ready this long after stop() would be one that
// never gets ready: the bound only turns a hang into a failure.
constexpr auto HANG = std::chrono::seconds(60);

bool fails_with_broken_promise(std::future<int> & f) {
    if (f.wait_for(HANG) != std::future_status::ready) {
        return false;
    }
    try {
        f.get();
    } catch (const std::future_error & e) {
        return e.code() == std::future_errc::broken_promise;
    }
    return false;
}

TEST_CASE(decode_scheduler_runs_control_tasks_in_order) {
    decode_scheduler sched;
    std::vector<int> order; // written by the decode thread only, read after the futures
    std::vector<std::future<int>> results;
    for (int i = 0; i < 5; ++i) {
        results.push_back(sched.call<int>([&order, i] {
            order.push_back(i);
            return i;
        }));
    }
    for (int i = 0; i < 5; ++i) {
        CHECK(results[static_cast<size_t>(i)].get() == i);
    }
    CHECK((order == std::vector<int>{0, 1, 2, 3, 4}));
    sched.stop();
}

// After stop() nothing is taken: a call's future fails at once, a post says
// so and leaves its task's on_drop to the caller.
TEST_CASE(decode_scheduler_refuses_after_stop) {
    decode_scheduler sched;
    sched.stop();
    std::future<int> f = sched.call<int>([] { return 1; });
    CHECK(fails_with_broken_promise(f));
    bool ran     = false;
    bool dropped = false;
    CHECK(!sched.post(decode_scheduler::TASK_KIND_GENERATE, [&] { ran = true; }, [&] { dropped = true; }));
    CHECK(!ran);
    CHECK(!dropped);
    sched.stop(); // twice: harmless
}

// Tasks queued behind one that is still running when stop() comes are
// dropped: each on_drop runs once, and call()'s futures fail.
TEST_CASE(decode_scheduler_drops_queued_tasks_on_stop) {
    decode_scheduler   sched;
    std::promise<void> started;
    std::promise<void> release;
    std::shared_future<void> go = release.get_future().share();
    std::future<int> first = sched.call<int>([&started, go] {
        started.set_value();
        go.wait();
        return 1;
    });
    started.get_future().wait();
    int dropped = 0; // written by the thread that calls stop()
    bool ran    = false;
    CHECK(sched.post(decode_scheduler::TASK_KIND_GENERATE, [&] { ran = true; }, [&] { dropped += 1; }));
    CHECK(sched.post(decode_scheduler::TASK_KIND_CONTROL, [&] { ran = true; }, [&] { dropped += 1; }));
    std::future<int> queued = sched.call<int>([] { return 2; });
    std::thread stopper([&] { sched.stop(); });
    // Until stop() has raised its flag, a post is still taken (and dropped
    // with the rest: these have no on_drop).
    while (sched.post(decode_scheduler::TASK_KIND_CONTROL, [] {})) {
        std::this_thread::yield();
    }
    release.set_value();
    stopper.join();
    CHECK(first.get() == 1);
    CHECK(!ran);
    CHECK(dropped == 2);
    CHECK(fails_with_broken_promise(queued));
}

} // namespace
} // namespace streaminfer_test
