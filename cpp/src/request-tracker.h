// A session's generate requests between queueing and their last event, so
// that a client that goes away can cancel its own.
//
// Threads: any thread tracks and cancels; the decode thread asks and
// finishes. One mutex; every call is short.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

namespace streaminfer {

class request_tracker {
public:
    void track(int64_t id) {
        std::lock_guard<std::mutex> lock(mu_);
        requests_[id] = false;
    }
    // False when the request is not queued or running (finished, or unknown).
    bool cancel(int64_t id) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = requests_.find(id);
        if (it == requests_.end()) {
            return false;
        }
        it->second = true;
        return true;
    }
    bool cancelled(int64_t id) const {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = requests_.find(id);
        return it != requests_.end() && it->second;
    }
    void finish(int64_t id) {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.erase(id);
    }

private:
    mutable std::mutex      mu_;
    std::map<int64_t, bool> requests_; // id -> cancelled; guarded by mu_
};

} // namespace streaminfer
