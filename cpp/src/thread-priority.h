// Lowers the calling thread's scheduling priority (raises its nice value).
//
// Why: on a small machine the decode thread and the compute threads llama.cpp
// starts from it can keep every core busy for seconds; the Python event loop
// that acks pushes and serves cached answers must still get a core the moment
// it has work. A nicer worker yields to it (CFS weights nice 0 ~9x over nice
// 10) and still gets every cycle nobody else wants. Threads inherit the value,
// so llama.cpp's per-decode worker threads follow the decode thread.
#pragma once

namespace streaminfer {

// Call from the thread itself. 0 leaves it unchanged; the result is capped at
// 19. Best effort: a platform or sandbox that refuses leaves the priority as
// it was and prints one warning.
void lower_this_thread_priority(int nice_increment);

} // namespace streaminfer
