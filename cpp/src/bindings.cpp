// Python bindings: the only file that includes pybind11.
//
// GIL rules: calls that wait on the model (load, create/destroy session,
// append, mark_prefix) release the GIL; quick calls keep it. No C++ thread
// ever touches a Python object: events cross over as plain C++ values and
// become dicts here, on the caller's thread.
#include "backends.h"
#include "engine.h"
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

py::list to_list(const std::vector<field_map> & items) {
    py::list out;
    for (const field_map & f : items) {
        out.append(to_dict(f));
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
        if (overflow != 0 || t < 0 || t > 253402300799LL) {
            bad_field(index, "timestamp", "must be Unix seconds between 0 and 253402300799");
        }
        rec.has_timestamp = true;
        rec.timestamp = t;
    }
    for (const field_spec & spec : record_fields(type)) {
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
            if (text.empty() || text.size() > 64) {
                bad_field(index, spec.name, "must be 1 to 64 characters");
            }
            for (const char ch : text) {
                if (static_cast<unsigned char>(ch) < 0x20 || ch == ',') {
                    bad_field(index, spec.name, "must not contain commas or control characters");
                }
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
        throw std::invalid_argument("unknown data type '" + name + "' (known: " + known + ")");
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

} // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "streaminfer core: continuous inference on llama.cpp";

    py::register_exception<model_load_error>(m, "ModelLoadError", PyExc_RuntimeError);
    py::register_exception<limit_error>(m, "LimitError", PyExc_RuntimeError);
    py::register_exception<duplicate_error>(m, "DuplicateError", PyExc_ValueError);
    py::register_exception<closed_error>(m, "EngineClosedError", PyExc_RuntimeError);
    exc_record       = py::exception<record_error>(m, "RecordError", PyExc_ValueError);
    exc_context_full = py::exception<context_full_error>(m, "ContextFullError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) {
                std::rethrow_exception(p);
            }
        } catch (const record_error & e) {
            py::tuple args = py::make_tuple(e.what(), e.index, e.field);
            PyErr_SetObject(exc_record.ptr(), args.ptr());
        } catch (const context_full_error & e) {
            py::tuple args = py::make_tuple(e.what(), e.n_tokens, e.n_available);
            PyErr_SetObject(exc_context_full.ptr(), args.ptr());
        } catch (const file_not_found_error & e) {
            PyErr_SetString(PyExc_FileNotFoundError, e.what());
        }
    });

    m.attr("DATA_TYPES")           = record_type_names();
    m.attr("MAX_FLASH_QUERIES")    = MAX_FLASH_QUERIES;
    m.attr("MAX_FLASH_TOKENS")     = MAX_FLASH_TOKENS;
    m.attr("DEFAULT_FLASH_TOKENS") = DEFAULT_FLASH_TOKENS;

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
    m.def("record_header", [](const std::string & type) { return record_header(parse_type(type)); }, py::arg("data_type"));
    m.def("format_record", [](const std::string & type, const py::dict & rec) {
        return format_record(parse_record(parse_type(type), rec, 0));
    }, py::arg("data_type"), py::arg("record"));

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
        .def("metadata", [](const model & mdl) {
            py::dict d;
            d["architecture"]      = mdl.architecture();
            d["description"]       = mdl.description();
            d["n_params"]          = mdl.n_params();
            d["size_bytes"]        = mdl.size_bytes();
            d["n_ctx_train"]       = mdl.n_ctx_train();
            d["n_vocab"]           = mdl.n_vocab();
            d["has_chat_template"] = mdl.has_chat_template();
            return d;
        })
        .def("tokenize", [](const model & mdl, const std::string & text, bool add_special, bool parse_special) {
            py::gil_scoped_release nogil;
            return mdl.tokenize(text, add_special, parse_special);
        }, py::arg("text"), py::arg("add_special") = false, py::arg("parse_special") = false)
        .def("detokenize", [](const model & mdl, const std::vector<token_id> & tokens) {
            return to_str(mdl.detokenize(tokens));
        }, py::arg("tokens"));

    py::class_<py_session>(m, "Session")
        .def_property_readonly("session_id", [](const py_session & ps) { return ps.s->id(); })
        .def_property_readonly("data_type", [](const py_session & ps) { return std::string(record_type_name(ps.s->type())); })
        .def_property_readonly("context_size", [](const py_session & ps) { return ps.s->n_ctx(); })
        .def_property_readonly("window_size", [](const py_session & ps) { return ps.s->window_size(); })
        .def_property_readonly("n_prefix_tokens", [](const py_session & ps) { return ps.s->n_prefix_tokens(); })
        .def_property_readonly("created_at", [](const py_session & ps) { return ps.s->created_at_ms(); })
        .def("push", [](py_session & ps, const py::list & records) {
            std::vector<record> parsed = parse_records(ps.s->type(), records);
            const push_result r = ps.eng->push(*ps.s, std::move(parsed));
            py::dict d;
            d["pushed"]         = r.pushed;
            d["dropped"]        = r.dropped;
            d["queue_size"]     = r.queue_size;
            d["queue_capacity"] = r.queue_capacity;
            d["total_enqueued"] = r.total_enqueued;
            d["total_dropped"]  = r.total_dropped;
            return d;
        }, py::arg("records"))
        .def("append_text", [](py_session & ps, const std::string & text) {
            field_map f;
            {
                py::gil_scoped_release nogil;
                f = ps.eng->append_text(ps.s, text);
            }
            return to_dict(f);
        }, py::arg("text"))
        .def("mark_prefix", [](py_session & ps) {
            field_map f;
            {
                py::gil_scoped_release nogil;
                f = ps.eng->mark_prefix(ps.s);
            }
            return to_dict(f);
        })
        .def("probe", [](py_session & ps, const std::string & prompt, int32_t max_tokens) {
            answer_job job;
            {
                py::gil_scoped_release nogil;
                job = ps.eng->probe(ps.s, prompt, max_tokens);
            }
            py::dict d;
            d["text"]       = to_str(job.text);
            d["n_tokens"]   = job.n_generated;
            d["confidence"] = job.confidence();
            d["logit_gap"]  = job.first_logit_gap;
            d["logits"]     = job.first_logits;
            return d;
        }, py::arg("prompt"), py::arg("max_tokens") = 16)
        .def("register_flash", [](py_session & ps, const std::string & query, int32_t max_tokens) {
            return to_dict(ps.eng->register_flash(ps.s, query, max_tokens));
        }, py::arg("query"), py::arg("max_tokens") = DEFAULT_FLASH_TOKENS)
        .def("list_flash", [](const py_session & ps) { return to_list(ps.s->list_flash()); })
        .def("delete_flash", [](py_session & ps, int32_t id) { return ps.s->delete_flash(id); }, py::arg("query_id"))
        .def("cached_answer", [](const py_session & ps, const std::string & prompt) -> py::object {
            auto hit = ps.s->cached_answer(prompt);
            return hit ? py::object(to_dict(*hit)) : py::object(py::none());
        }, py::arg("prompt"))
        .def("generate", [](py_session & ps, const std::string & prompt, int32_t max_tokens,
                            std::optional<std::vector<std::string>> stop) {
            if (max_tokens < 1) {
                throw std::invalid_argument("max_tokens must be >= 1");
            }
            return ps.eng->generate(ps.s, prompt, max_tokens, stop.value_or(std::vector<std::string>{}));
        }, py::arg("prompt"), py::arg("max_tokens") = 128, py::arg("stop") = py::none())
        .def("cancel", [](py_session & ps, int64_t request_id) { return ps.s->cancel(request_id); },
             py::arg("request_id"))
        .def("data_version", [](const py_session & ps) { return ps.s->data_version(); })
        .def("flash_count", [](const py_session & ps) { return ps.s->flash_count(); })
        .def("state", [](const py_session & ps) { return to_dict(ps.s->state()); })
        .def("stats", [](const py_session & ps) { return to_dict(ps.s->stats()); })
        .def("context_text", [](const py_session & ps) { return to_str(ps.s->context_text()); })
        .def("slots", [](const py_session & ps) { return to_list(ps.s->slots()); })
        .def("touch", [](py_session & ps) { ps.s->touch(); });

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
        .def("poll_events", [](engine & e) {
            py::list out;
            for (const event & ev : e.events().drain()) {
                out.append(to_dict(ev.fields));
            }
            return out;
        })
        .def("create_session", [](std::shared_ptr<engine> & e, const std::string & id, const std::string & type,
                                  const std::string & prompt, int32_t context_size, int32_t window_size,
                                  std::optional<std::vector<std::pair<std::string, int32_t>>> flash) {
            session_config cfg;
            cfg.id            = id;
            cfg.type          = parse_type(type);
            cfg.system_prompt = prompt;
            cfg.n_ctx         = context_size;
            cfg.window_size   = window_size;
            cfg.flash         = flash.value_or(std::vector<std::pair<std::string, int32_t>>{});
            std::shared_ptr<session> s;
            {
                py::gil_scoped_release nogil;
                s = e->create_session(std::move(cfg));
            }
            return py_session{e, s};
        }, py::arg("session_id"), py::arg("data_type"), py::arg("prompt") = "", py::arg("context_size") = 0,
           py::arg("window_size") = 0, py::arg("flash") = py::none())
        .def("destroy_session", [](engine & e, const std::string & id) {
            py::gil_scoped_release nogil;
            return e.destroy_session(id);
        }, py::arg("session_id"))
        .def("get_session", [](std::shared_ptr<engine> & e, const std::string & id) -> py::object {
            auto s = e->find(id);
            return s ? py::cast(py_session{e, s}) : py::object(py::none());
        }, py::arg("session_id"))
        .def("session_ids", [](const engine & e) {
            std::vector<std::string> ids;
            for (const auto & s : e.sessions()) {
                ids.push_back(s->id());
            }
            return ids;
        })
        .def("counters", [](const engine & e) {
            py::dict d;
            d["sessions"]       = e.sessions().size();
            d["events_dropped"] = const_cast<engine &>(e).events().dropped();
            return d;
        })
        .def("close", [](engine & e) {
            py::gil_scoped_release nogil;
            e.close();
        });
}
