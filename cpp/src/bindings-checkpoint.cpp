// A session's checkpoint across the binding (session-checkpoint.cpp says
// what it holds). Entries are dicts, as they are written down:
// {"record": {...}} for a record (the push format), {"text": "..."} for
// appended text.
#include "bindings.h"

#include "backends.h"
#include "session.h"

#include <pybind11/stl.h>

namespace streaminfer::bindings {

namespace {

// A checkpoint and the record type its entries are parsed with.
struct py_checkpoint {
    record_type        type = RECORD_TYPE_OHLCV;
    session_checkpoint cp;
};

py::list entries_out(const std::vector<window_entry> & entries) {
    py::list out;
    for (const window_entry & e : entries) {
        py::dict d;
        if (e.is_record) {
            d["record"] = record_dict(e.rec);
        } else {
            d["text"] = to_str(e.text);
        }
        out.append(std::move(d));
    }
    return out;
}

std::vector<window_entry> entries_in(record_type type, const py::list & items, const char * name) {
    std::vector<window_entry> out;
    int64_t index = 0;
    for (const py::handle & item : items) {
        if (!py::isinstance<py::dict>(item)) {
            throw param_error(std::string(name) + "[" + std::to_string(index) + "] must be a dict", name);
        }
        const auto d = py::reinterpret_borrow<py::dict>(item);
        window_entry e;
        if (d.contains("record")) {
            e.is_record = true;
            e.rec       = parse_record(type, d["record"], index);
        } else if (d.contains("text") && py::isinstance<py::str>(d["text"])) {
            e.text = d["text"].cast<std::string>();
        } else {
            throw param_error(std::string(name) + "[" + std::to_string(index) + "] must hold 'record' or 'text'", name);
        }
        out.push_back(std::move(e));
        ++index;
    }
    return out;
}

py::dict counters_out(const session_counters & c) {
    py::dict out;
#define STREAMINFER_FIELD(name, doc) out[#name] = c.name;
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
    return out;
}

// Counters the dict does not name stay 0 (a checkpoint of an older build).
session_counters counters_in(const py::dict & d) {
    session_counters c;
#define STREAMINFER_FIELD(name, doc) \
    if (d.contains(#name)) {         \
        c.name = d[#name].cast<int64_t>(); \
    }
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
    return c;
}

py_checkpoint make_checkpoint(const std::string & data_type, const py::list & frozen, const py::list & window,
                              int64_t next_seq, int64_t data_version, const py::dict & counters,
                              const std::vector<std::tuple<int32_t, std::string, int32_t>> & flash,
                              int32_t next_flash_id, const py::bytes & kv_state) {
    py_checkpoint out;
    out.type               = parse_type(data_type);
    out.cp.frozen          = entries_in(out.type, frozen, "frozen");
    out.cp.window          = entries_in(out.type, window, "window");
    out.cp.next_seq        = next_seq;
    out.cp.data_version    = data_version;
    out.cp.counters        = counters_in(counters);
    out.cp.next_flash_id   = next_flash_id;
    for (const auto & [id, query, max_tokens] : flash) {
        flash_info q;
        q.id         = id;
        q.query      = query;
        q.max_tokens = max_tokens;
        out.cp.flash.push_back(std::move(q));
    }
    const std::string_view bytes = kv_state;
    out.cp.kv_state.assign(bytes.begin(), bytes.end());
    return out;
}

} // namespace

py::object checkpoint_to_py(record_type type, session_checkpoint cp) {
    return py::cast(py_checkpoint{type, std::move(cp)});
}

const session_checkpoint & checkpoint_from_py(const py::handle & obj, record_type type) {
    const auto & pc = obj.cast<const py_checkpoint &>();
    if (pc.type != type) {
        throw param_error(std::string("the checkpoint holds ") + record_type_name(pc.type) + " records, not " +
                              record_type_name(type),
                          "restore");
    }
    return pc.cp;
}

void bind_checkpoint(py::module_ & m) {
    m.attr("LLAMA_BUILD_ID") = llama_build_id();
    py::class_<py_checkpoint>(m, "Checkpoint")
        .def(py::init(&make_checkpoint), py::arg("data_type"), py::arg("frozen"), py::arg("window"),
             py::arg("next_seq"), py::arg("data_version"), py::arg("counters"), py::arg("flash"),
             py::arg("next_flash_id"), py::arg("kv_state") = py::bytes())
        .def_property_readonly("data_type", [](const py_checkpoint & c) { return std::string(record_type_name(c.type)); })
        .def_property_readonly("frozen", [](const py_checkpoint & c) { return entries_out(c.cp.frozen); })
        .def_property_readonly("window", [](const py_checkpoint & c) { return entries_out(c.cp.window); })
        .def_property_readonly("next_seq", [](const py_checkpoint & c) { return c.cp.next_seq; })
        .def_property_readonly("data_version", [](const py_checkpoint & c) { return c.cp.data_version; })
        .def_property_readonly("counters", [](const py_checkpoint & c) { return counters_out(c.cp.counters); })
        .def_property_readonly("flash", [](const py_checkpoint & c) {
            std::vector<std::tuple<int32_t, std::string, int32_t>> out;
            for (const flash_info & q : c.cp.flash) {
                out.emplace_back(q.id, q.query, q.max_tokens);
            }
            return out;
        })
        .def_property_readonly("next_flash_id", [](const py_checkpoint & c) { return c.cp.next_flash_id; })
        .def_property_readonly("kv_state", [](const py_checkpoint & c) {
            return py::bytes(reinterpret_cast<const char *>(c.cp.kv_state.data()), c.cp.kv_state.size());
        });
}

} // namespace streaminfer::bindings
