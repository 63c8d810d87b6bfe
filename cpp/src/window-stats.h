// Per-type statistics over the records currently in a session's window
// (the API's /stats). Nested objects are flattened with dotted keys
// ("current_position.x"); the bindings rebuild the nesting.
#pragma once

#include "event-queue.h"
#include "record-format.h"

#include <string>
#include <utility>
#include <vector>

namespace streaminfer {

// `records` oldest first.
std::vector<std::pair<std::string, event_value>> window_stats(record_type type,
                                                              const std::vector<const record *> & records);

} // namespace streaminfer
