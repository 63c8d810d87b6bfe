#include "event-queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace streaminfer {

event_queue::event_queue(size_t capacity) : capacity_(capacity) {
    fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0) {
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    }
}

event_queue::~event_queue() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

void event_queue::push(event ev) {
    bool was_empty = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (events_.size() >= capacity_) {
            const auto oldest = std::find_if(events_.begin(), events_.end(), [](const event & e) { return !e.terminal; });
            if (oldest != events_.end()) {
                events_.erase(oldest);
                ++dropped_;
            }
        }
        was_empty = events_.empty();
        events_.push_back(std::move(ev));
    }
    // Only the transition to non-empty rings the bell: the consumer reads
    // the eventfd before it takes the queue, so nothing is missed.
    if (was_empty) {
        const uint64_t one = 1;
        ssize_t rc;
        do {
            rc = write(fd_, &one, sizeof(one));
        } while (rc < 0 && errno == EINTR);
    }
}

std::vector<event> event_queue::drain() {
    uint64_t counter = 0;
    ssize_t rc;
    do {
        rc = read(fd_, &counter, sizeof(counter)); // EAGAIN when not signalled: fine
    } while (rc < 0 && errno == EINTR);
    std::deque<event> taken;
    {
        std::lock_guard<std::mutex> lock(mu_);
        taken.swap(events_);
    }
    return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

uint64_t event_queue::dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
}

} // namespace streaminfer
