// Statistics over the records in a session's window (the API's /stats):
// the per-field ones the record-type table names (record-types.h), then
// each type's derived ones. Nested objects are flattened with dotted keys
// ("current_position.x"); the bindings rebuild the nesting.
#pragma once

#include "event-queue.h"
#include "record-types.h"

#include <vector>

namespace streaminfer {

// `records` oldest first.
field_map window_stats(record_type type, const std::vector<const record *> & records);

} // namespace streaminfer
