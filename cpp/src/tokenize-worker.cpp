#include "tokenize-worker.h"

#include "session.h"
#include "thread-priority.h"

#include <cstdio>
#include <exception>

namespace streaminfer {

tokenize_worker::tokenize_worker(sessions_fn sessions, ready_fn on_ready, int worker_nice)
    : sessions_(std::move(sessions)), on_ready_(std::move(on_ready)), worker_nice_(worker_nice), thread_([this] { loop(); }) {}

tokenize_worker::~tokenize_worker() { stop(); }

void tokenize_worker::notify() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        signalled_ = true;
    }
    cv_.notify_one();
}

void tokenize_worker::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void tokenize_worker::loop() {
    lower_this_thread_priority(worker_nice_);
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return signalled_ || stop_; });
            if (stop_) {
                return;
            }
            signalled_ = false;
        }
        // Drain until every ring is empty: a push that raced with the last
        // pass set signalled_ again and brings us back here.
        bool moved = true;
        while (moved) {
            moved = false;
            for (const std::shared_ptr<session> & s : sessions_()) {
                try {
                    if (!s->closed() && s->drain_ring() > 0) {
                        moved = true;
                        on_ready_(s);
                    }
                } catch (const std::exception & e) {
                    std::fprintf(stderr, "streaminfer: tokenization failed for %s: %s\n", s->id().c_str(), e.what());
                }
            }
        }
    }
}

} // namespace streaminfer
