// Declarations shared by the binding's files (bindings*.cpp), the only files
// that include pybind11. The GIL rules are bindings.cpp's.
#pragma once

#include "event-queue.h"
#include "record-types.h"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace streaminfer {
struct session_checkpoint;
}

namespace streaminfer::bindings {

namespace py = pybind11;

// A record refused on its way in: `index` in the pushed list, `field` ("" for the record itself).
struct record_error : std::runtime_error {
    record_error(const std::string & what, int64_t index, std::string field)
        : std::runtime_error(what), index(index), field(std::move(field)) {}
    int64_t     index;
    std::string field;
};


// Strings from the model may hold invalid UTF-8 (a token can end inside a
// character): decoded with replacement, never an exception.
py::str  to_str(const std::string & s);
py::dict to_dict(const field_map & fields);

record_type         parse_type(const std::string & name);          // param_error "type"
record              parse_record(record_type type, const py::handle & obj, int64_t index);
std::vector<record> parse_records(record_type type, const py::list & items);
// `count` records from columns by field name (and "timestamp"): numbers through
// the buffer protocol (float64, NaN for missing, or int64), strings as a
// sequence of str or None. param_error ("columns") for a column of the wrong
// shape or name, record_error for a value.
std::vector<record> parse_columns(record_type type, size_t count, const py::dict & columns);
py::dict            record_dict(const record & rec);                 // parse_record's inverse

void bind_records(py::module_ & m); // record_types(), format_record(), record_header()
void bind_results(py::module_ & m); // the typed results: SessionState, FlashInfo, ...
void bind_checkpoint(py::module_ & m); // Checkpoint, LLAMA_BUILD_ID
py::object                 checkpoint_to_py(record_type type, session_checkpoint cp);
// param_error ("restore") when the checkpoint is of another record type.
const session_checkpoint & checkpoint_from_py(const py::handle & obj, record_type type);

} // namespace streaminfer::bindings
