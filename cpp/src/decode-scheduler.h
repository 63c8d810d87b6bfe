// The decode thread: the only caller of llama_decode (and of everything
// else that touches a llama_context). Work:
//   - control tasks first, FIFO: open / release a session, append,
//     mark_prefix, probe (short, and callers wait on them)
//   - then, in turns, one of each kind that has work, round robin:
//       GENERATE  a generate request (FIFO)
//       FLASH     a session whose flash queries must be re-answered
//       STREAM    a session with tokenized records pending: one batch (up
//                 to n_batch tokens), sessions round robin
// so a flood of generates from one session holds back every other
// session's ingest by one batch at most, and a generate posted behind a
// long backlog waits for one flash run and one batch at most.
// Exceptions thrown by a task reach the poster through its future; nothing
// escapes the thread (no std::terminate inside a Python process).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace streaminfer {

class session;

class decode_scheduler {
public:
    // worker_nice: see thread-priority.h; applied by the thread itself.
    explicit decode_scheduler(int worker_nice = 0);
    ~decode_scheduler();
    decode_scheduler(const decode_scheduler &) = delete;
    decode_scheduler & operator=(const decode_scheduler &) = delete;

    // Any thread. Runs `fn` on the decode thread as a control task. After
    // stop() the future fails at once (std::future_error, broken_promise).
    template <typename R>
    std::future<R> call(std::function<R()> fn) {
        auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
        std::future<R> result = task->get_future();
        (void)post(TASK_KIND_CONTROL, [task] { (*task)(); }); // refused: the task is gone, the promise broken
        return result;
    }
    enum task_kind : int32_t {
        TASK_KIND_CONTROL  = 0,
        TASK_KIND_GENERATE = 1,
    };
    // Any thread. False after stop(): the task was not taken (nor is on_drop
    // called). A task taken and never run (stop() came first) has its
    // on_drop called, on the thread that calls stop().
    [[nodiscard]] bool post(task_kind kind, std::function<void()> run, std::function<void()> on_drop = nullptr);

    // Any thread: the session has records pending / flash queries to answer.
    void notify_stream(const std::shared_ptr<session> & s);
    void notify_flash(const std::shared_ptr<session> & s);

    // Stops after the work in progress (callers that want it cut short mark
    // their sessions closed first); tasks not run are dropped: on_drop runs,
    // and call()'s futures report broken_promise.
    void stop();

private:
    struct task {
        std::function<void()> run;
        std::function<void()> on_drop;
    };
    // The kinds of work that take turns (after the control tasks).
    enum work_turn : int32_t {
        WORK_TURN_GENERATE = 0,
        WORK_TURN_FLASH    = 1,
        WORK_TURN_STREAM   = 2,
        WORK_TURN_COUNT    = 3,
    };
    void loop();
    bool has_work(work_turn turn) const; // mu_ held

    std::mutex                            mu_;
    std::condition_variable               cv_;
    std::deque<task>                      control_;   // guarded by mu_
    std::deque<task>                      generate_;  // guarded by mu_
    std::deque<std::shared_ptr<session>>  flash_;  // guarded by mu_
    std::deque<std::shared_ptr<session>>  stream_; // guarded by mu_
    // The sessions in flash_ / stream_: each queue holds a session at most
    // once, until the decode thread takes it. Guarded by mu_.
    std::unordered_set<const session *>   in_flash_;
    std::unordered_set<const session *>   in_stream_;
    bool                                  stop_ = false; // guarded by mu_
    work_turn                             turn_ = WORK_TURN_GENERATE; // whose turn is next; decode thread, under mu_
    const int                             worker_nice_;
    std::thread                           thread_; // started last
};

} // namespace streaminfer
