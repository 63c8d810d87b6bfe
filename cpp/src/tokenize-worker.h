// The tokenization worker: drains every session's ring (the consumer side),
// formats each record into its line and tokenizes it, then hands the
// session to the decode scheduler. Keeps tokenization off both the event
// loop and the decode thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace streaminfer {

class session;

class tokenize_worker {
public:
    using sessions_fn = std::function<std::vector<std::shared_ptr<session>>()>;
    using ready_fn    = std::function<void(const std::shared_ptr<session> &)>;

    // worker_nice: see thread-priority.h; applied by the thread itself.
    tokenize_worker(sessions_fn sessions, ready_fn on_ready, int worker_nice = 0);
    ~tokenize_worker();
    tokenize_worker(const tokenize_worker &) = delete;
    tokenize_worker & operator=(const tokenize_worker &) = delete;

    // Any thread (the producer after a push): there is work in some ring.
    void notify();
    void stop();

private:
    void loop();

    sessions_fn             sessions_;
    ready_fn                on_ready_;
    std::mutex              mu_;
    std::condition_variable cv_;
    bool                    signalled_ = false; // guarded by mu_
    bool                    stop_ = false;      // guarded by mu_
    const int               worker_nice_;
    std::thread             thread_;            // started last
};

} // namespace streaminfer
