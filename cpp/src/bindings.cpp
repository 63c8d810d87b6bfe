// Python bindings: the module, its errors, sessions and the engine (with
// bindings-records.cpp and bindings-results.cpp, the only files that include
// pybind11; bindings.h is what they share).
//
// GIL rules: calls that wait on the model (load, create/destroy session,
// append, mark_prefix) release the GIL; quick calls keep it. No C++ thread
// ever touches a Python object: events cross over as plain C++ values and
// become dicts here, on the caller's thread.
#include "backends.h"
#include "core-errors.h"
#include "engine.h"
#include "core-limits.h"
#include "latency-histogram.h"
#include "record-format.h"

#include "bindings.h"

#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <string>

using namespace streaminfer;
using namespace streaminfer::bindings;

namespace streaminfer::bindings {

py::str to_str(const std::string & s) {
    PyObject * obj = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
    if (obj == nullptr) {
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::str>(obj);
}

namespace {

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

} // namespace

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

} // namespace streaminfer::bindings

namespace {

py::object exc_record;
py::object exc_context_full;
py::object exc_param;
py::object exc_duplicate;
py::object exc_limit;

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

void bind_errors(py::module_ & m) {
    py::register_exception<model_load_error>(m, "ModelLoadError", PyExc_RuntimeError);
    py::register_exception<session_closed_error>(m, "SessionClosedError", PyExc_RuntimeError);
    py::register_exception<engine_closed_error>(m, "EngineClosedError", PyExc_RuntimeError);
    py::register_exception<context_alloc_error>(m, "ContextAllocError", PyExc_RuntimeError);
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

// Called with the GIL held (push never releases it); a Python exception
// propagates as itself and the push changes nothing. `fn` outlives the push.
accept_hook python_hook(const py::object & fn) {
    if (fn.is_none()) {
        return {};
    }
    return [&fn](int64_t first_seq, int64_t count) { fn(first_seq, count); };
}

void bind_session(py::module_ & m) {
    py::class_<py_session>(m, "Session")
        .def_property_readonly("session_id", [](const py_session & ps) { return ps.s->id(); })
        .def_property_readonly("data_type", [](const py_session & ps) { return std::string(record_type_name(ps.s->type())); })
        .def_property_readonly("context_size", [](const py_session & ps) { return ps.s->n_ctx(); })
        .def_property_readonly("window_size", [](const py_session & ps) { return ps.s->window_size(); })
        .def("push", [](py_session & ps, const py::list & records, const py::object & before_accept) {
            return ps.eng->push(*ps.s, parse_records(ps.s->type(), records), python_hook(before_accept));
        }, py::arg("records"), py::arg("before_accept") = py::none())
        .def("push_columns", [](py_session & ps, size_t count, const py::dict & columns, const py::object & before_accept) {
            return ps.eng->push(*ps.s, parse_columns(ps.s->type(), count, columns), python_hook(before_accept));
        }, py::arg("count"), py::arg("columns"), py::arg("before_accept") = py::none())
        .def("window", [](const py_session & ps) {
            py::list out;
            for (const record & rec : ps.s->window_records()) {
                out.append(record_dict(rec));
            }
            return out;
        })
        .def("append_text", [](py_session & ps, const std::string & text) {
            py::gil_scoped_release nogil;
            return ps.eng->append_text(ps.s, text);
        }, py::arg("text"))
        .def("mark_prefix", [](py_session & ps) {
            py::gil_scoped_release nogil;
            return ps.eng->mark_prefix(ps.s);
        })
        .def("checkpoint", [](py_session & ps, bool with_kv) {
            session_checkpoint cp;
            {
                py::gil_scoped_release nogil;
                cp = ps.eng->checkpoint(ps.s, with_kv);
            }
            return checkpoint_to_py(ps.s->type(), std::move(cp));
        }, py::arg("with_kv") = false)
        .def_property_readonly("restored_from_kv", [](const py_session & ps) { return ps.s->restored_from_kv(); })
        .def("probe", [](py_session & ps, const std::string & prompt, int32_t max_tokens) {
            py::gil_scoped_release nogil;
            return ps.eng->probe(ps.s, prompt, max_tokens);
        }, py::arg("prompt"), py::arg("max_tokens") = 16)
        .def("register_flash", [](py_session & ps, const std::string & query, std::optional<int64_t> max_tokens) {
            // Tokenizes the query: the event loop's other work goes on meanwhile.
            py::gil_scoped_release nogil;
            return ps.eng->register_flash(ps.s, query, max_tokens.value_or(DEFAULT_FLASH_TOKENS));
        }, py::arg("query"), py::arg("max_tokens") = py::none())
        .def("list_flash", [](const py_session & ps) { return ps.s->list_flash(); })
        .def("delete_flash", [](py_session & ps, int32_t id) { return ps.s->delete_flash(id); }, py::arg("query_id"))
        .def("cached_answer", [](const py_session & ps, const std::string & prompt) { return ps.s->cached_answer(prompt); },
             py::arg("prompt"))
        .def("generate", [](py_session & ps, const std::string & prompt, std::optional<int64_t> max_tokens,
                            std::optional<std::vector<std::string>> stop) {
            // Tokenizes the prompt (the arguments are already C++ values).
            py::gil_scoped_release nogil;
            return ps.eng->generate(ps.s, prompt, max_tokens.value_or(DEFAULT_GENERATE_TOKENS),
                                    stop.value_or(std::vector<std::string>{}));
        }, py::arg("prompt"), py::arg("max_tokens") = py::none(), py::arg("stop") = py::none())
        .def("cancel", [](py_session & ps, int64_t request_id) { return ps.s->cancel(request_id); },
             py::arg("request_id"))
        .def("data_version", [](const py_session & ps) { return ps.s->data_version(); })
        .def("flash_count", [](const py_session & ps) { return ps.s->flash_count(); })
        .def("state", [](const py_session & ps) { return ps.s->state(); })
        .def("latency", [](const py_session & ps) { return ps.s->latencies(); })
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
                                  std::optional<std::vector<std::pair<std::string, std::optional<int64_t>>>> flash,
                                  const py::object & restore) {
            session_config cfg;
            cfg.id            = id;
            cfg.type          = parse_type(type);
            cfg.system_prompt = prompt;
            cfg.n_ctx         = saturate(context_size);
            cfg.window_size   = saturate(window_size);
            for (const auto & [query, max_tokens] : flash.value_or(decltype(flash)::value_type{})) {
                cfg.flash.emplace_back(query, max_tokens.value_or(DEFAULT_FLASH_TOKENS));
            }
            std::optional<session_checkpoint> plan;
            if (!restore.is_none()) {
                plan = checkpoint_from_py(restore, cfg.type); // a copy: the Checkpoint stays usable
            }
            py::gil_scoped_release nogil;
            return py_session{e, e->create_session(std::move(cfg), std::move(plan))};
        }, py::arg("session_id"), py::arg("data_type"), py::arg("prompt") = "", py::arg("context_size") = 0,
           py::arg("window_size") = 0, py::arg("flash") = py::none(), py::arg("restore") = py::none())
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
    m.attr("TEXT_PUNCTUATION")        = std::string(TEXT_PUNCTUATION);
    m.attr("MIN_WINDOW_RECORDS")      = MIN_WINDOW_RECORDS;
    m.attr("MAX_WINDOW_RECORDS")      = MAX_WINDOW_RECORDS;
    m.attr("MAX_STOP_STRINGS")        = MAX_STOP_STRINGS;
    m.attr("MAX_STOP_LENGTH")         = MAX_STOP_LENGTH;
    m.attr("LATENCY_BOUNDS_US")       = std::vector<int64_t>(LATENCY_BOUNDS_US.begin(), LATENCY_BOUNDS_US.end());
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
    bind_checkpoint(m);

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
        .def("kv_bytes", &model::kv_bytes, py::arg("n_ctx"))
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
