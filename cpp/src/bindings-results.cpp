// The core's results as plain Python objects: one class per struct, their
// fields read-only. Wire names are not written here (the server's views.py).
#include "bindings.h"

#include "batch-decoder.h"
#include "flash-registry.h"
#include "latency-stages.h"
#include "session.h"

#include <pybind11/stl.h>

namespace streaminfer::bindings {

void bind_results(py::module_ & m) {
    auto counters = py::class_<session_counters>(m, "SessionCounters");
#define STREAMINFER_FIELD(name, doc) counters.def_readonly(#name, &session_counters::name, doc);
    STREAMINFER_SESSION_COUNTERS(STREAMINFER_FIELD)
#undef STREAMINFER_FIELD
    py::class_<stage_latency>(m, "StageLatency")
        .def_property_readonly("name", [](const stage_latency & l) { return std::string(l.name); })
        .def_property_readonly("description", [](const stage_latency & l) { return std::string(l.description); })
        .def_property_readonly("counts", [](const stage_latency & l) { return l.snapshot.counts; })
        .def_property_readonly("count", [](const stage_latency & l) { return l.snapshot.count; })
        .def_property_readonly("sum_us", [](const stage_latency & l) { return l.snapshot.sum_us; })
        .def_property_readonly("p50_us", [](const stage_latency & l) { return latency_quantile(l.snapshot, 0.50); })
        .def_property_readonly("p95_us", [](const stage_latency & l) { return latency_quantile(l.snapshot, 0.95); })
        .def_property_readonly("p99_us", [](const stage_latency & l) { return latency_quantile(l.snapshot, 0.99); })
        .def("__repr__", [](const stage_latency & l) {
            return "<StageLatency " + std::string(l.name) + " count=" + std::to_string(l.snapshot.count) + ">";
        });
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

} // namespace streaminfer::bindings
