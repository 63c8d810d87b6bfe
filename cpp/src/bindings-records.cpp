// Records across the binding: checked against the core's table (each rule
// is the table's: record-format.h) and the table itself for Python.
#include "bindings.h"

#include "core-errors.h"
#include "core-limits.h"
#include "record-format.h"

#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace streaminfer::bindings {

namespace {

[[noreturn]] void bad_field(int64_t index, const char * field, const std::string & why) {
    throw record_error("data[" + std::to_string(index) + "]." + field + ": " + why, index, field);
}

void set_timestamp(record & rec, int64_t index, int64_t t, bool in_range) {
    std::string why;
    if (!check_timestamp(in_range ? t : -1, why)) { // -1: out of range either way
        bad_field(index, "timestamp", why);
    }
    rec.has_timestamp = true;
    rec.timestamp = t;
}

void set_number(record & rec, const field_spec & spec, int64_t index, double value) {
    std::string why;
    if (!check_number(spec, value, why)) {
        bad_field(index, spec.name, why);
    }
    rec.num[static_cast<size_t>(spec.slot)] = value;
}

// A string field's value (a Python str), checked.
void set_text(record & rec, const field_spec & spec, int64_t index, PyObject * v) {
    if (!PyUnicode_Check(v)) {
        bad_field(index, spec.name, "must be a string");
    }
    Py_ssize_t n = 0;
    const char * s = PyUnicode_AsUTF8AndSize(v, &n);
    if (s == nullptr) {
        PyErr_Clear();
        bad_field(index, spec.name, "must be valid UTF-8 text");
    }
    std::string text(s, static_cast<size_t>(n));
    std::string why;
    if (!check_text(text, why)) {
        bad_field(index, spec.name, why);
    }
    rec.str[static_cast<size_t>(spec.slot)] = std::move(text);
}

// One numeric column read through the buffer protocol where it lies (any
// stride, no copy): float64, where NaN marks a missing value, or int64.
class numeric_column {
public:
    numeric_column(const py::handle & obj, const std::string & name, size_t count) {
        if (PyObject_CheckBuffer(obj.ptr()) == 0) {
            throw param_error("column '" + name + "': a buffer of numbers expected (a numpy array)", "columns");
        }
        info_ = py::reinterpret_borrow<py::buffer>(obj).request();
        is_int_ = info_.itemsize == 8 && (info_.format == "l" || info_.format == "q");
        if (!is_int_ && info_.format != py::format_descriptor<double>::format()) {
            throw param_error("column '" + name + "': float64 or int64 values expected (buffer format '" +
                                  info_.format + "')", "columns");
        }
        if (info_.ndim != 1 || static_cast<size_t>(info_.shape[0]) != count) {
            throw param_error("column '" + name + "': one dimension of " + std::to_string(count) + " values expected",
                              "columns");
        }
    }

    bool missing(size_t i) const { return !is_int_ && std::isnan(at<double>(i)); }
    bool is_int() const { return is_int_; }
    int64_t as_int(size_t i) const { return at<int64_t>(i); }
    double  as_double(size_t i) const { return is_int_ ? static_cast<double>(at<int64_t>(i)) : at<double>(i); }

private:
    template <typename T> T at(size_t i) const {
        T v;
        std::memcpy(&v, static_cast<const char *>(info_.ptr) + static_cast<py::ssize_t>(i) * info_.strides[0], sizeof v);
        return v;
    }

    py::buffer_info info_;
    bool            is_int_ = false;
};

} // namespace

record parse_record(record_type type, const py::handle & obj, int64_t index) {
    if (!PyDict_Check(obj.ptr())) {
        throw record_error("data[" + std::to_string(index) + "]: must be an object", index, "");
    }
    record rec;
    rec.type = type;
    PyObject * dict = obj.ptr();
    if (PyObject * ts = PyDict_GetItemString(dict, "timestamp"); ts != nullptr && ts != Py_None) {
        if (!PyLong_Check(ts) || PyBool_Check(ts)) {
            bad_field(index, "timestamp", "must be an integer (Unix seconds)");
        }
        int overflow = 0;
        const long long t = PyLong_AsLongLongAndOverflow(ts, &overflow);
        set_timestamp(rec, index, t, overflow == 0);
    }
    for (const field_spec & spec : record_spec(type).fields) {
        PyObject * v = PyDict_GetItemString(dict, spec.name);
        if (v == nullptr || v == Py_None) {
            if (spec.required) {
                bad_field(index, spec.name, "is required");
            }
            continue;
        }
        if (spec.kind == FIELD_KIND_STR) {
            set_text(rec, spec, index, v);
            continue;
        }
        double value = 0;
        if (PyBool_Check(v)) {
            bad_field(index, spec.name, spec.kind == FIELD_KIND_INT ? "must be an integer" : "must be a number");
        } else if (PyLong_Check(v)) {
            value = PyLong_AsDouble(v);
            if (value == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                bad_field(index, spec.name, "is out of range");
            }
        } else if (PyFloat_Check(v) && spec.kind == FIELD_KIND_FLOAT) {
            value = PyFloat_AS_DOUBLE(v);
        } else {
            bad_field(index, spec.name, spec.kind == FIELD_KIND_INT ? "must be an integer" : "must be a number");
        }
        set_number(rec, spec, index, value);
    }
    return rec;
}

std::vector<record> parse_columns(record_type type, size_t count, const py::dict & columns) {
    const record_type_spec & rt = record_spec(type);
    for (const auto & item : columns) {
        const std::string name = py::str(item.first);
        const bool known = name == "timestamp" || std::any_of(rt.fields.begin(), rt.fields.end(),
                                                              [&](const field_spec & f) { return name == f.name; });
        if (!known) {
            throw param_error("column '" + name + "' is not a field of " + rt.name, "columns");
        }
    }
    // Per field, in line order: its numbers or its texts (or neither: no column).
    std::vector<std::optional<numeric_column>> numbers(rt.fields.size());
    std::vector<py::sequence>                  texts(rt.fields.size());
    for (size_t k = 0; k < rt.fields.size(); ++k) {
        const field_spec & spec = rt.fields[k];
        if (!columns.contains(spec.name)) {
            if (spec.required && count > 0) {
                bad_field(0, spec.name, "is required (no column '" + std::string(spec.name) + "')");
            }
            continue;
        }
        const py::object col = columns[spec.name];
        if (spec.kind != FIELD_KIND_STR) {
            numbers[k].emplace(col, spec.name, count);
        } else if (PyUnicode_Check(col.ptr()) || !PySequence_Check(col.ptr()) ||
                   static_cast<size_t>(PySequence_Size(col.ptr())) != count) {
            throw param_error("column '" + std::string(spec.name) + "': a sequence of " + std::to_string(count) +
                                  " strings expected", "columns");
        } else {
            texts[k] = py::reinterpret_borrow<py::sequence>(col);
        }
    }
    std::optional<numeric_column> stamps;
    if (columns.contains("timestamp")) {
        stamps.emplace(columns["timestamp"], "timestamp", count);
    }
    // Record by record, as parse_record: the first bad record is the one named.
    std::vector<record> out(count);
    for (size_t i = 0; i < count; ++i) {
        record & rec = out[i];
        rec.type = type;
        const auto index = static_cast<int64_t>(i);
        if (stamps && stamps->is_int()) {
            set_timestamp(rec, index, stamps->as_int(i), true);
        } else if (stamps && !stamps->missing(i)) {
            const double t = stamps->as_double(i);
            if (t != std::floor(t)) {
                bad_field(index, "timestamp", "must be an integer (Unix seconds)");
            }
            const bool in_range = std::fabs(t) < 9.2e18; // within int64
            set_timestamp(rec, index, in_range ? static_cast<int64_t>(t) : -1, in_range);
        }
        for (size_t k = 0; k < rt.fields.size(); ++k) {
            const field_spec & spec = rt.fields[k];
            if (numbers[k] && !numbers[k]->missing(i)) {
                set_number(rec, spec, index, numbers[k]->as_double(i));
            } else if (texts[k] && !texts[k][i].is_none()) {
                set_text(rec, spec, index, py::object(texts[k][i]).ptr());
            } else if (spec.required) {
                bad_field(index, spec.name, numbers[k] ? "is required (NaN marks a missing value)" : "is required");
            }
        }
    }
    return out;
}

py::dict record_dict(const record & rec) {
    py::dict out;
    if (rec.has_timestamp) {
        out["timestamp"] = rec.timestamp;
    }
    for (const field_spec & spec : record_spec(rec.type).fields) {
        const auto slot = static_cast<size_t>(spec.slot);
        switch (spec.kind) {
            case FIELD_KIND_STR:
                if (!rec.str[slot].empty()) { // an optional string left out
                    out[spec.name] = to_str(rec.str[slot]);
                }
                break;
            case FIELD_KIND_INT:   out[spec.name] = static_cast<int64_t>(rec.num[slot]); break; // checked: within MAX_COUNT
            case FIELD_KIND_FLOAT: out[spec.name] = rec.num[slot]; break;
        }
    }
    return out;
}

record_type parse_type(const std::string & name) {
    record_type t;
    if (!record_type_from_name(name, t)) {
        std::string known;
        for (const std::string & n : record_type_names()) {
            known += (known.empty() ? "" : ", ") + n;
        }
        throw param_error("unknown data type '" + name + "' (known: " + known + ")", "type");
    }
    return t;
}

std::vector<record> parse_records(record_type type, const py::list & items) {
    std::vector<record> out;
    out.reserve(items.size());
    int64_t i = 0;
    for (const py::handle & item : items) {
        out.push_back(parse_record(type, item, i++));
    }
    return out;
}

namespace {

const char * kind_name(field_kind kind) {
    switch (kind) {
        case FIELD_KIND_FLOAT: return "float";
        case FIELD_KIND_INT:   return "int";
        case FIELD_KIND_STR:   return "str";
    }
    return "unknown";
}

py::object optional_bound(double v) {
    return std::isinf(v) ? py::object(py::none()) : py::object(py::float_(v));
}

py::object field_example(const field_spec & f) {
    if (f.example == nullptr) {
        return py::none();
    }
    if (f.kind == FIELD_KIND_STR) {
        return py::str(f.example);
    }
    const double v = std::strtod(f.example, nullptr);
    return f.kind == FIELD_KIND_INT ? py::object(py::int_(static_cast<int64_t>(v))) : py::object(py::float_(v));
}

} // namespace

void bind_records(py::module_ & m) {
    py::class_<field_spec>(m, "RecordField")
        .def_property_readonly("name", [](const field_spec & f) { return f.name; })
        .def_property_readonly("kind", [](const field_spec & f) { return kind_name(f.kind); })
        .def_readonly("required", &field_spec::required)
        .def_property_readonly("minimum", [](const field_spec & f) {
            return f.kind == FIELD_KIND_STR ? py::object(py::none()) : optional_bound(f.min_value);
        })
        .def_property_readonly("maximum", [](const field_spec & f) {
            return f.kind == FIELD_KIND_STR ? py::object(py::none()) : optional_bound(f.max_value);
        })
        .def_property_readonly("max_length", [](const field_spec & f) {
            return f.kind == FIELD_KIND_STR ? py::object(py::int_(MAX_TEXT_LENGTH)) : py::object(py::none());
        })
        .def_property_readonly("description", [](const field_spec & f) { return f.description; })
        .def_property_readonly("example", &field_example)
        .def("__repr__", [](const field_spec & f) {
            return std::string("<RecordField ") + f.name + " " + kind_name(f.kind) + ">";
        });
    py::class_<record_type_spec>(m, "RecordType")
        .def_property_readonly("name", [](const record_type_spec & t) { return t.name; })
        .def_property_readonly("description", [](const record_type_spec & t) { return t.description; })
        .def_property_readonly("header", [](const record_type_spec & t) { return record_header(t.type); })
        .def_readonly("fields", &record_type_spec::fields)
        .def("__repr__", [](const record_type_spec & t) { return std::string("<RecordType ") + t.name + ">"; });
    m.def("record_types", [] {
        std::vector<const record_type_spec *> out;
        for (int32_t i = 0; i < RECORD_TYPE_COUNT; ++i) {
            out.push_back(&record_spec(static_cast<record_type>(i)));
        }
        return out;
    }, py::return_value_policy::reference, "Every record type, with its fields, in the core's own table.");
    m.def("record_header", [](const std::string & type) { return record_header(parse_type(type)); }, py::arg("data_type"));
    m.def("format_record", [](const std::string & type, const py::dict & rec) {
        return format_record(parse_record(parse_type(type), rec, 0));
    }, py::arg("data_type"), py::arg("record"));
}

} // namespace streaminfer::bindings
