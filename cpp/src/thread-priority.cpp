#include "thread-priority.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(__linux__)
#    include <sys/resource.h>
#    include <sys/syscall.h>
#    include <unistd.h>
#endif

namespace streaminfer {

void lower_this_thread_priority(int nice_increment) {
    if (nice_increment <= 0) {
        return;
    }
#if defined(__linux__)
    // On Linux PRIO_PROCESS with a thread id addresses that one thread.
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int current = getpriority(PRIO_PROCESS, tid);
    if (errno != 0) {
        return;
    }
    if (setpriority(PRIO_PROCESS, tid, std::min(19, current + nice_increment)) != 0) {
        std::fprintf(stderr, "streaminfer: could not lower a worker thread's priority: %s\n", std::strerror(errno));
    }
#endif
}

} // namespace streaminfer
