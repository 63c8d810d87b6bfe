// Python bindings: the only file that includes pybind11.
//
// GIL rules: calls that wait on the model (load, create/destroy session,
// append, mark_prefix) release the GIL; quick calls keep it. No C++ thread
// ever touches a Python object: events cross over as plain C++ values and
// become dicts here, on the caller's thread.
#include "backends.h"
#include "core-errors.h"
#include "engine.h"
#include "core-limits.h"
#include "record-format.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <string>

namespace py = pybind11;
using namespace streaminfer;

namespace {

struct record_error : std::runtime_error {
    record_error(const std::string & what, int64_t index, std::string field)
        : std::runtime_error(what), index(index), field(std::move(field)) {}
    int64_t     index;
    std::string field;
};

py::object exc_record;
py::object exc_context_full;
py::object exc_param;
py::object exc_duplicate;
py::object exc_limit;

// Strings from the model may hold invalid UTF-8 (a token can end inside a
// character): never let that become an exception.
py::str to_str(const std::string & s) {
    PyObject * obj = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
    if (obj == nullptr) {
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::str>(obj);
}

py::object to_py(const event_value & v) {
    if (const auto * i = std::get_if<int64_t>(&v)) {
        return py::int_(*i);
    }
    if (const auto * d = std::get_if<double>(&v)) {
        return py::float_(*d);
    }
    if (const auto * b = std::get_if<bool>(&v)) {
        return py::bool_(*b);
    }
    return to_str(std::get<std::string>(v));
}

// "a.b" keys become nested dicts (window statistics use them).
py::dict to_dict(const field_map & fields) {
    py::dict out;
    for (const auto & [key, value] : fields) {
        const size_t dot = key.find('.');
        if (dot == std::string::npos) {
            out[py::str(key)] = to_py(value);
            continue;
        }
        const py::str outer(key.substr(0, dot));
        if (!out.contains(outer)) {
            out[outer] = py::dict();
        }
        py::dict inner = out[outer];
        inner[py::str(key.substr(dot + 1))] = to_py(value);
    }
    return out;
}

[[noreturn]] void bad_field(int64_t index, const char * field, const std::string & why) {
    throw record_error("data[" + std::to_string(index) + "]." + field + ": " + why, index, field);
}

// Validates one record (a dict) against its type's fields.
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
        std::string why;
        if (!check_timestamp(overflow != 0 ? -1 : t, why)) { // -1: out of range either way
            bad_field(index, "timestamp", why);
        }
        rec.has_timestamp = true;
        rec.timestamp = t;
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
        std::string why;
        if (!check_number(spec, value, why)) {
            bad_field(index, spec.name, why);
        }
        rec.num[static_cast<size_t>(spec.slot)] = value;
    }
    return rec;
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

// The names of flash_attn_mode, as options and the API spell them.
const std::vector<std::pair<std::string, flash_attn_mode>> FLASH_ATTN_MODES = {
    {"auto", FLASH_ATTN_MODE_AUTO}, {"on", FLASH_ATTN_MODE_ON}, {"off", FLASH_ATTN_MODE_OFF}};

flash_attn_mode parse_flash_attn(const std::string & name) {
    std::string known;
    for (const auto & [n, mode] : FLASH_ATTN_MODES) {
        if (n == name) {
            return mode;
        }
        known += (known.empty() ? "" : ", ") + n;
    }
    throw std::invalid_argument("flash_attn must be one of " + known + ", not '" + name + "'");
}

// Sizes cross as 64-bit integers; the core's own checks refuse what is out of
// range, so larger magnitudes only need to stay out of range on the way in.
int32_t saturate(int64_t v) {
    return static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX));
}

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

void bind_results(py::module_ & m) {
    auto counters = py::class_<session_counters>(m, "SessionCounters");
#define STREAMINFER_FIELD(name, doc) counters.def_readonly(#name, &session_counters::name, doc);
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
    py::class_<session_state>(m, "SessionState")
        .def_property_readonly("data_type", [](const session_state & s) { return record_type_name(s.type); })
        .def_readonly("context_size", &session_state::context_size)
        .def_readonly("window_size", &session_state::window_size)
        .def_readonly("prefix_end", &session_state::prefix_end)
        .def_readonly("pos_next", &session_state::pos_next)
        .def_readonly("pos_min", &session_state::pos_min)
        .def_readonly("pos_max", &session_state::pos_max)
        .def_readonly("data_count", &session_state::data_count)
        .def_readonly("data_tokens", &session_state::data_tokens)
        .def_readonly("last_inject_us", &session_state::last_inject_us)
        .def_readonly("queue_size", &session_state::queue_size)
        .def_readonly("ring_size", &session_state::ring_size)
        .def_readonly("queue_capacity", &session_state::queue_capacity)
        .def_readonly("data_version", &session_state::data_version)
        .def_readonly("running", &session_state::running)
        .def_readonly("error", &session_state::error)
        .def_readonly("counters", &session_state::counters);
    py::class_<push_result>(m, "PushResult")
        .def_readonly("pushed", &push_result::pushed)
        .def_readonly("dropped", &push_result::dropped)
        .def_readonly("queue_size", &push_result::queue_size)
        .def_readonly("queue_capacity", &push_result::queue_capacity)
        .def_readonly("total_enqueued", &push_result::total_enqueued)
        .def_readonly("total_dropped", &push_result::total_dropped);
    py::class_<flash_info>(m, "FlashInfo")
        .def_readonly("id", &flash_info::id)
        .def_property_readonly("query", [](const flash_info & f) { return to_str(f.query); })
        .def_readonly("max_tokens", &flash_info::max_tokens)
        .def_readonly("n_tokens", &flash_info::n_tokens)
        .def_readonly("has_answer", &flash_info::has_answer)
        .def_property_readonly("value", [](const flash_info & f) { return to_str(f.value); })
        .def_readonly("answer_tokens", &flash_info::answer_tokens)
        .def_readonly("confidence", &flash_info::confidence)
        .def_readonly("logit_gap", &flash_info::logit_gap)
        .def_readonly("data_version", &flash_info::data_version)
        .def_readonly("evaluated_at", &flash_info::evaluated_at);
    py::class_<append_result>(m, "AppendResult")
        .def_readonly("n_tokens_added", &append_result::n_tokens_added)
        .def_readonly("pos_next", &append_result::pos_next);
    py::class_<prefix_mark>(m, "PrefixMark")
        .def_readonly("prefix_end", &prefix_mark::prefix_end)
        .def_readonly("n_records_frozen", &prefix_mark::n_records_frozen);
    py::class_<answer_job>(m, "Answer")
        .def_property_readonly("text", [](const answer_job & a) { return to_str(a.text); })
        .def_readonly("n_tokens", &answer_job::n_generated)
        .def_property_readonly("confidence", &answer_job::confidence)
        .def_readonly("logit_gap", &answer_job::first_logit_gap)
        .def_readonly("logits", &answer_job::first_logits);
}

void bind_errors(py::module_ & m) {
    py::register_exception<model_load_error>(m, "ModelLoadError", PyExc_RuntimeError);
    py::register_exception<session_closed_error>(m, "SessionClosedError", PyExc_RuntimeError);
    py::register_exception<engine_closed_error>(m, "EngineClosedError", PyExc_RuntimeError);
    exc_record       = py::exception<record_error>(m, "RecordError", PyExc_ValueError);
    exc_context_full = py::exception<context_full_error>(m, "ContextFullError", PyExc_ValueError);
    exc_param        = py::exception<param_error>(m, "ParamError", PyExc_ValueError);
    exc_duplicate    = py::exception<duplicate_error>(m, "DuplicateError", exc_param);
    exc_limit        = py::exception<limit_error>(m, "LimitError", exc_param);
    // Each carries its details as args: RecordError (message, index, field),
    // ContextFullError (message, n_tokens, n_available), ParamError and its
    // subclasses (message, param, index).
    py::register_exception_translator([](std::exception_ptr p) {
        const auto raise = [](const py::object & type, const py::tuple & args) { PyErr_SetObject(type.ptr(), args.ptr()); };
        const auto param_args = [](const param_error & e) { return py::make_tuple(e.what(), e.param, e.index); };
        try {
            if (p) {
                std::rethrow_exception(p);
            }
        } catch (const record_error & e) {
            raise(exc_record, py::make_tuple(e.what(), e.index, e.field));
        } catch (const context_full_error & e) {
            raise(exc_context_full, py::make_tuple(e.what(), e.n_tokens, e.n_available));
        } catch (const duplicate_error & e) {
            raise(exc_duplicate, param_args(e));
        } catch (const limit_error & e) {
            raise(exc_limit, param_args(e));
        } catch (const param_error & e) {
            raise(exc_param, param_args(e));
        } catch (const file_not_found_error & e) {
            PyErr_SetString(PyExc_FileNotFoundError, e.what());
        }
    });
}

// A session handle for Python: keeps the engine alive while it exists.
struct py_session {
    std::shared_ptr<engine>  eng;
    std::shared_ptr<session> s;
};

std::shared_ptr<engine> make_engine(const std::string & path, int32_t n_ctx, int32_t n_threads, int32_t n_batch,
                                    int32_t n_gpu_layers, int32_t queue_capacity, int32_t worker_nice,
                                    const std::string & flash_attn, bool offload_kv, bool repack) {
    engine_params p;
    p.model_path        = path;
    p.n_ctx             = n_ctx;
    p.n_threads         = n_threads;
    p.n_batch           = n_batch;
    p.n_gpu_layers      = n_gpu_layers;
    p.queue_capacity    = queue_capacity;
    p.worker_nice       = worker_nice;
    p.flash_attn        = parse_flash_attn(flash_attn);
    p.offload_kv        = offload_kv;
    p.repack            = repack;
    py::gil_scoped_release nogil;
    return std::make_shared<engine>(p);
}

void bind_session(py::module_ & m) {
    py::class_<py_session>(m, "Session")
        .def_property_readonly("session_id", [](const py_session & ps) { return ps.s->id(); })
        .def_property_readonly("data_type", [](const py_session & ps) { return std::string(record_type_name(ps.s->type())); })
        .def_property_readonly("context_size", [](const py_session & ps) { return ps.s->n_ctx(); })
        .def_property_readonly("window_size", [](const py_session & ps) { return ps.s->window_size(); })
        .def("push", [](py_session & ps, const py::list & records) {
            return ps.eng->push(*ps.s, parse_records(ps.s->type(), records));
        }, py::arg("records"))
        .def("append_text", [](py_session & ps, const std::string & text) {
            py::gil_scoped_release nogil;
            return ps.eng->append_text(ps.s, text);
        }, py::arg("text"))
        .def("mark_prefix", [](py_session & ps) {
            py::gil_scoped_release nogil;
            return ps.eng->mark_prefix(ps.s);
        })
        .def("probe", [](py_session & ps, const std::string & prompt, int32_t max_tokens) {
            py::gil_scoped_release nogil;
            return ps.eng->probe(ps.s, prompt, max_tokens);
        }, py::arg("prompt"), py::arg("max_tokens") = 16)
        .def("register_flash", [](py_session & ps, const std::string & query, std::optional<int64_t> max_tokens) {
            return ps.eng->register_flash(ps.s, query, max_tokens.value_or(DEFAULT_FLASH_TOKENS));
        }, py::arg("query"), py::arg("max_tokens") = py::none())
        .def("list_flash", [](const py_session & ps) { return ps.s->list_flash(); })
        .def("delete_flash", [](py_session & ps, int32_t id) { return ps.s->delete_flash(id); }, py::arg("query_id"))
        .def("cached_answer", [](const py_session & ps, const std::string & prompt) { return ps.s->cached_answer(prompt); },
             py::arg("prompt"))
        .def("generate", [](py_session & ps, const std::string & prompt, std::optional<int64_t> max_tokens,
                            std::optional<std::vector<std::string>> stop) {
            return ps.eng->generate(ps.s, prompt, max_tokens.value_or(DEFAULT_GENERATE_TOKENS),
                                    stop.value_or(std::vector<std::string>{}));
        }, py::arg("prompt"), py::arg("max_tokens") = py::none(), py::arg("stop") = py::none())
        .def("cancel", [](py_session & ps, int64_t request_id) { return ps.s->cancel(request_id); },
             py::arg("request_id"))
        .def("data_version", [](const py_session & ps) { return ps.s->data_version(); })
        .def("flash_count", [](const py_session & ps) { return ps.s->flash_count(); })
        .def("state", [](const py_session & ps) { return ps.s->state(); })
        .def("stats", [](const py_session & ps) { return to_dict(ps.s->stats()); })
        .def("context_text", [](const py_session & ps) { return to_str(ps.s->context_text()); });
}

void bind_engine(py::module_ & m) {
    py::class_<engine, std::shared_ptr<engine>>(m, "Engine")
        .def(py::init(&make_engine), py::arg("model_path"), py::arg("n_ctx") = 2048, py::arg("n_threads") = 0,
             py::arg("n_batch") = 512, py::arg("n_gpu_layers") = 0, py::arg("queue_capacity") = 4096,
             py::arg("worker_nice") = 10, py::arg("flash_attn") = "auto", py::arg("offload_kv") = true,
             py::arg("repack") = true)
        .def_property_readonly("model", [](const std::shared_ptr<engine> & e) {
            // The model lives as long as the engine: alias the engine's ownership.
            return std::shared_ptr<model>(e, const_cast<model *>(&e->get_model()));
        })
        .def_property_readonly("n_ctx", [](const engine & e) { return e.params().n_ctx; })
        .def_property_readonly("n_threads", [](const engine & e) { return e.get_model().n_threads(); })
        .def_property_readonly("event_fd", [](engine & e) { return e.events().fd(); })
        .def_property_readonly("events_dropped", [](engine & e) { return e.events().dropped(); })
        .def("poll_events", [](engine & e) {
            py::list out;
            for (const event & ev : e.events().drain()) {
                out.append(to_dict(ev.fields));
            }
            return out;
        })
        .def("create_session", [](std::shared_ptr<engine> & e, const std::string & id, const std::string & type,
                                  const std::string & prompt, int64_t context_size, int64_t window_size,
                                  std::optional<std::vector<std::pair<std::string, std::optional<int64_t>>>> flash) {
            session_config cfg;
            cfg.id            = id;
            cfg.type          = parse_type(type);
            cfg.system_prompt = prompt;
            cfg.n_ctx         = saturate(context_size);
            cfg.window_size   = saturate(window_size);
            for (const auto & [query, max_tokens] : flash.value_or(decltype(flash)::value_type{})) {
                cfg.flash.emplace_back(query, max_tokens.value_or(DEFAULT_FLASH_TOKENS));
            }
            py::gil_scoped_release nogil;
            return py_session{e, e->create_session(std::move(cfg))};
        }, py::arg("session_id"), py::arg("data_type"), py::arg("prompt") = "", py::arg("context_size") = 0,
           py::arg("window_size") = 0, py::arg("flash") = py::none())
        .def("destroy_session", [](engine & e, const std::string & id) {
            py::gil_scoped_release nogil;
            return e.destroy_session(id);
        }, py::arg("session_id"))
        .def("get_session", [](std::shared_ptr<engine> & e, const std::string & id) -> std::optional<py_session> {
            auto s = e->find(id);
            return s ? std::optional<py_session>(py_session{e, s}) : std::nullopt;
        }, py::arg("session_id"))
        .def("session_ids", [](const engine & e) {
            std::vector<std::string> ids;
            for (const auto & s : e.sessions()) {
                ids.push_back(s->id());
            }
            return ids;
        })
        .def("close", [](engine & e) {
            py::gil_scoped_release nogil;
            e.close();
        });
}

} // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "streaminfer core: continuous inference on llama.cpp";
    bind_errors(m);

    m.attr("DATA_TYPES")              = record_type_names();
    m.attr("MAX_FLASH_QUERIES")       = MAX_FLASH_QUERIES;
    m.attr("MAX_FLASH_TOKENS")        = MAX_FLASH_TOKENS;
    m.attr("DEFAULT_FLASH_TOKENS")    = DEFAULT_FLASH_TOKENS;
    m.attr("DEFAULT_GENERATE_TOKENS") = DEFAULT_GENERATE_TOKENS;
    m.attr("MIN_CONTEXT_SIZE")        = MIN_CONTEXT_SIZE;
    m.attr("MAX_TEXT_LENGTH")         = MAX_TEXT_LENGTH;
    m.attr("MAX_TIMESTAMP")           = MAX_TIMESTAMP;
    std::vector<std::string> flash_attn_names;
    for (const auto & entry : FLASH_ATTN_MODES) {
        flash_attn_names.push_back(entry.first);
    }
    m.attr("FLASH_ATTN_MODES") = flash_attn_names;

    py::class_<gpu_info>(m, "GpuInfo")
        .def_readonly("name", &gpu_info::name)
        .def_readonly("description", &gpu_info::description)
        .def_readonly("memory_free", &gpu_info::memory_free)
        .def_readonly("memory_total", &gpu_info::memory_total);
    py::class_<system_info>(m, "SystemInfo")
        .def_readonly("build", &system_info::build)
        .def_readonly("cuda_built", &system_info::cuda_built)
        .def_readonly("cuda_loaded", &system_info::cuda_loaded)
        .def_readonly("cpu_variant", &system_info::cpu_variant)
        .def_readonly("cpu_backend_path", &system_info::cpu_backend_path)
        .def_readonly("cpu_features", &system_info::cpu_features)
        .def_readonly("amx", &system_info::amx)
        .def_readonly("gpus", &system_info::gpus)
        .def_readonly("llama_info", &system_info::llama_info)
        .def("__repr__", [](const system_info & i) {
            return "<SystemInfo build=" + i.build + " cpu_variant=" + i.cpu_variant +
                   " amx=" + (i.amx ? "True" : "False") + " gpus=" + std::to_string(i.gpus.size()) + ">";
        });
    m.def("system_info", [] {
        py::gil_scoped_release nogil; // the first call loads the backends
        return describe_system();
    });

    bind_records(m);
    bind_results(m);

    py::class_<model, std::shared_ptr<model>>(m, "Model")
        .def(py::init([](const std::string & path, int32_t n_threads, int32_t n_gpu_layers, bool repack) {
                 model_params p;
                 p.n_threads         = n_threads;
                 p.n_gpu_layers      = n_gpu_layers;
                 p.repack            = repack;
                 py::gil_scoped_release nogil;
                 return std::make_shared<model>(path, p);
             }),
             py::arg("path"), py::arg("n_threads") = 0, py::arg("n_gpu_layers") = 0, py::arg("repack") = true)
        .def_property_readonly("path", &model::path)
        .def_property_readonly("architecture", &model::architecture)
        .def_property_readonly("description", &model::description)
        .def_property_readonly("n_params", &model::n_params)
        .def_property_readonly("size_bytes", &model::size_bytes)
        .def_property_readonly("n_ctx_train", &model::n_ctx_train)
        .def_property_readonly("n_vocab", &model::n_vocab)
        .def_property_readonly("has_chat_template", &model::has_chat_template)
        .def("tokenize", [](const model & mdl, const std::string & text, bool add_special, bool parse_special) {
            py::gil_scoped_release nogil;
            return mdl.tokenize(text, add_special, parse_special);
        }, py::arg("text"), py::arg("add_special") = false, py::arg("parse_special") = false)
        .def("detokenize", [](const model & mdl, const std::vector<token_id> & tokens) {
            return to_str(mdl.detokenize(tokens));
        }, py::arg("tokens"));

    bind_session(m);
    bind_engine(m);
}
