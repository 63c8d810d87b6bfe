#include "decode-scheduler.h"

#include "session.h"
#include "thread-priority.h"

#include <cstdio>
#include <exception>

namespace streaminfer {

decode_scheduler::decode_scheduler(int worker_nice) : worker_nice_(worker_nice), thread_([this] { loop(); }) {}

decode_scheduler::~decode_scheduler() { stop(); }

bool decode_scheduler::post(task_kind kind, std::function<void()> run, std::function<void()> on_drop) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) {
            return false; // `run` is destroyed on return: a packaged task's future fails now
        }
        (kind == TASK_KIND_GENERATE ? generate_ : control_).push_back({std::move(run), std::move(on_drop)});
    }
    cv_.notify_one();
    return true;
}

bool decode_scheduler::has_work(work_turn turn) const {
    switch (turn) {
        case WORK_TURN_GENERATE: return !generate_.empty();
        case WORK_TURN_FLASH:    return !flash_.empty();
        case WORK_TURN_STREAM:   return !stream_.empty();
        case WORK_TURN_COUNT:    break;
    }
    return false;
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
    std::deque<task> dropped;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        dropped.swap(control_);
        for (task & t : generate_) {
            dropped.push_back(std::move(t));
        }
        generate_.clear();
        flash_.clear();
        stream_.clear();
        in_flash_.clear();
        in_stream_.clear();
    }
    // Outside the lock: on_drop may post events or take other locks.
    for (task & t : dropped) {
        if (t.on_drop) {
            t.on_drop();
        }
    }
}

void decode_scheduler::loop() {
    lower_this_thread_priority(worker_nice_);
    for (;;) {
        task                     job;
        std::shared_ptr<session> flash;
        std::shared_ptr<session> stream;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] {
                return stop_ || !control_.empty() || !generate_.empty() || !flash_.empty() || !stream_.empty();
            });
            if (stop_) {
                return;
            }
            if (!control_.empty()) {
                job = std::move(control_.front());
                control_.pop_front();
            } else {
                while (!has_work(turn_)) {
                    turn_ = static_cast<work_turn>((turn_ + 1) % WORK_TURN_COUNT);
                }
                const work_turn now = turn_;
                turn_ = static_cast<work_turn>((turn_ + 1) % WORK_TURN_COUNT);
                if (now == WORK_TURN_GENERATE) {
                    job = std::move(generate_.front());
                    generate_.pop_front();
                } else if (now == WORK_TURN_FLASH) {
                    flash = std::move(flash_.front());
                    flash_.pop_front();
                    in_flash_.erase(flash.get());
                } else {
                    stream = std::move(stream_.front());
                    stream_.pop_front();
                    in_stream_.erase(stream.get());
                }
            }
        }
        try {
            if (job.run) {
                job.run(); // packaged tasks keep their own exceptions
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
