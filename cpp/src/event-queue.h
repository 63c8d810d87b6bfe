// Events from the C++ threads to Python (flash_ready, data_updated,
// generate tokens and results).
//
// Any thread may push; one consumer (the asyncio loop) drains. An eventfd
// is readable while events are pending, so the loop waits in epoll (without
// the GIL, without polling) and drains when woken.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace streaminfer {

using event_value = std::variant<int64_t, double, bool, std::string>;
// Named values in order: an event's payload, the window statistics.
using field_map = std::vector<std::pair<std::string, event_value>>;

struct event {
    field_map fields;          // "type" and "session_id" first
    bool      terminal = false; // a request's last event: never dropped (ends_request)

    event(const char * type, const std::string & session_id) {
        fields.reserve(10);
        fields.emplace_back("type", std::string(type));
        fields.emplace_back("session_id", session_id);
    }
    event & set(const char * key, event_value value) {
        fields.emplace_back(key, std::move(value));
        return *this;
    }
    // A waiter ends on this event (generate_done, generate_error): losing it
    // would leave the waiter hanging, so the queue keeps it whatever its size.
    event & ends_request() {
        terminal = true;
        return *this;
    }
};

class event_queue {
public:
    explicit event_queue(size_t capacity = 1u << 16);
    ~event_queue();
    event_queue(const event_queue &) = delete;
    event_queue & operator=(const event_queue &) = delete;

    // Any thread. When full, the oldest event that is not terminal is dropped
    // (counted); terminal ones are bounded by the requests in flight, so the
    // queue may hold more than its capacity of them.
    void push(event ev);
    // Consumer only: takes every pending event, never blocks.
    std::vector<event> drain();

    int      fd() const { return fd_; }
    uint64_t dropped() const;

private:
    const size_t      capacity_;
    int               fd_ = -1;
    mutable std::mutex mu_;
    std::deque<event> events_;      // guarded by mu_
    uint64_t          dropped_ = 0; // guarded by mu_
};

} // namespace streaminfer
