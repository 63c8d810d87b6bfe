#include "decode-scheduler.h"

#include "session.h"
#include "thread-priority.h"

#include <cstdio>
#include <exception>

namespace streaminfer {

decode_scheduler::decode_scheduler(int worker_nice) : worker_nice_(worker_nice), thread_([this] { loop(); }) {}

decode_scheduler::~decode_scheduler() { stop(); }

void decode_scheduler::post(std::function<void()> task) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
}

void decode_scheduler::notify_stream(const std::shared_ptr<session> & s) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!in_stream_.insert(s.get()).second) {
            return; // already queued
        }
        stream_.push_back(s);
    }
    cv_.notify_one();
}

void decode_scheduler::notify_flash(const std::shared_ptr<session> & s) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!in_flash_.insert(s.get()).second) {
            return;
        }
        flash_.push_back(s);
    }
    cv_.notify_one();
}

void decode_scheduler::stop() {
    std::deque<std::function<void()>> dropped;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(tasks_); // destroyed outside the loop: their futures see broken_promise
    flash_.clear();
    stream_.clear();
    in_flash_.clear();
    in_stream_.clear();
}

void decode_scheduler::loop() {
    lower_this_thread_priority(worker_nice_);
    for (;;) {
        std::function<void()>    task;
        std::shared_ptr<session> flash;
        std::shared_ptr<session> stream;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !tasks_.empty() || !flash_.empty() || !stream_.empty(); });
            if (stop_) {
                return;
            }
            if (!tasks_.empty()) {
                task = std::move(tasks_.front());
                tasks_.pop_front();
            } else if (!flash_.empty()) {
                flash = std::move(flash_.front());
                flash_.pop_front();
                in_flash_.erase(flash.get());
            } else {
                stream = std::move(stream_.front());
                stream_.pop_front();
                in_stream_.erase(stream.get());
            }
        }
        try {
            if (task) {
                task(); // packaged tasks keep their own exceptions
            } else if (flash) {
                flash->run_flash();
            } else {
                stream->run_stream_batch();
                if (stream->flash_stale()) {
                    notify_flash(stream);
                }
                if (stream->has_stream_work()) {
                    notify_stream(stream); // to the back: round robin between sessions
                }
            }
        } catch (const std::exception & e) {
            std::fprintf(stderr, "streaminfer: decode thread: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "streaminfer: decode thread: unknown exception\n");
        }
    }
}

} // namespace streaminfer
