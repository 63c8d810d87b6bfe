// The decode thread: the only caller of llama_decode (and of everything
// else that touches a llama_context). Work, most urgent first:
//   1. posted tasks, FIFO: generate requests (FLASH priority) and control
//      (open / release a session, append, mark_prefix)
//   2. FLASH: sessions whose flash queries must be re-answered
//   3. STREAM: sessions with tokenized records pending, round robin, one
//      batch (up to n_batch tokens) per turn
// so a generate posted behind a long backlog runs after at most one batch.
// Exceptions thrown by a task reach the poster through its future; nothing
// escapes the thread (no std::terminate inside a Python process).
#pragma once

#include <condition_variable>
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

    // Any thread. Runs `fn` on the decode thread at task priority.
    template <typename R>
    std::future<R> call(std::function<R()> fn) {
        auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
        std::future<R> result = task->get_future();
        post([task] { (*task)(); });
        return result;
    }
    void post(std::function<void()> task);

    // Any thread: the session has records pending / flash queries to answer.
    void notify_stream(const std::shared_ptr<session> & s);
    void notify_flash(const std::shared_ptr<session> & s);

    // Stops after the task in progress; tasks not run are dropped (their
    // futures report broken_promise).
    void stop();

private:
    void loop();

    std::mutex                            mu_;
    std::condition_variable               cv_;
    std::deque<std::function<void()>>     tasks_;  // guarded by mu_
    std::deque<std::shared_ptr<session>>  flash_;  // guarded by mu_
    std::deque<std::shared_ptr<session>>  stream_; // guarded by mu_
    // The sessions in flash_ / stream_: each queue holds a session at most
    // once, until the decode thread takes it. Guarded by mu_.
    std::unordered_set<const session *>   in_flash_;
    std::unordered_set<const session *>   in_stream_;
    bool                                  stop_ = false; // guarded by mu_
    const int                             worker_nice_;
    std::thread                           thread_; // started last
};

} // namespace streaminfer
