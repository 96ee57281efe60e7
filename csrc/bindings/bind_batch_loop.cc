// Python bindings of paste::BatchLoop: one crossing per step (schedule, commit), flat numpy
// arrays out, GIL released while the core works.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "convert.h"
#include "paste/batch_loop.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

namespace {

SeqParams MakeParams(int32_t max_tokens, const py::object& stop_token_ids, double priority,
                     bool park_on_finish, double pin_ttl_s) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.stop_token_ids = ToTokenVector(stop_token_ids, "stop_token_ids");
  p.priority = priority;
  p.park_on_finish = park_on_finish;
  p.pin_ttl_s = pin_ttl_s;
  return p;
}

template <typename T, typename Class>
void DefArray(Class& cls, const char* name, std::vector<T> StepPlan::*field, const char* doc) {
  cls.def_property_readonly(
      name, [field](const StepPlan& p) { return ToNumpy(p.*field); }, doc);
}

void RegisterPlan(py::module_& m) {
  py::class_<StepPlan> plan(m, "StepPlan",
                            "One step's work as flat arrays; an immutable snapshot.");
  plan.def_readonly("step", &StepPlan::step)
      .def_property_readonly("num_seqs", [](const StepPlan& p) { return p.seq_ids.size(); })
      .def_property_readonly("num_tokens", &StepPlan::num_tokens);
  DefArray(plan, "seq_ids", &StepPlan::seq_ids, "[n] int64, batch order");
  DefArray(plan, "query_start_loc", &StepPlan::query_start_loc, "[n+1] token offsets");
  DefArray(plan, "num_computed_tokens", &StepPlan::num_computed_tokens, "[n] KV before step");
  DefArray(plan, "seq_lens", &StepPlan::seq_lens, "[n] KV tokens after this step");
  DefArray(plan, "input_ids", &StepPlan::input_ids, "[T]");
  DefArray(plan, "positions", &StepPlan::positions, "[T]");
  DefArray(plan, "slot_mapping", &StepPlan::slot_mapping, "[T] block_id*block_size+offset");
  DefArray(plan, "kv_indptr", &StepPlan::kv_indptr, "[n+1] CSR block table offsets");
  DefArray(plan, "kv_indices", &StepPlan::kv_indices, "CSR block ids");
  DefArray(plan, "kv_last_page_len", &StepPlan::kv_last_page_len, "[n]");
  DefArray(plan, "logits_indices", &StepPlan::logits_indices, "[m] tokens to sample from");
  DefArray(plan, "sample_seq_ids", &StepPlan::sample_seq_ids, "[m] sequences that sample");
  DefArray(plan, "preempted_seq_ids", &StepPlan::preempted_seq_ids, "preempted this step");
  DefArray(plan, "reclaimed_seq_ids", &StepPlan::reclaimed_seq_ids, "pins reclaimed");
  DefArray(plan, "admitted_seq_ids", &StepPlan::admitted_seq_ids, "admitted this step");
  DefArray(plan, "admitted_num_reused", &StepPlan::admitted_num_reused,
           "[a] reused KV tokens per admitted sequence");

  py::class_<StepEvents> ev(m, "StepEvents", "One entry per sampled token, plan order.");
  ev.def_property_readonly("seq_ids", [](const StepEvents& e) { return ToNumpy(e.seq_ids); })
      .def_property_readonly("tokens", [](const StepEvents& e) { return ToNumpy(e.tokens); })
      .def_property_readonly("finish_reasons",
                             [](const StepEvents& e) { return ToNumpy(e.finish_reasons); })
      .def("__len__", [](const StepEvents& e) { return e.seq_ids.size(); });
}

}  // namespace

void RegisterBatchLoop(py::module_& m) {
  py::enum_<SeqStatus>(m, "SeqStatus")
      .value("WAITING", SeqStatus::kWaiting)
      .value("RUNNING", SeqStatus::kRunning)
      .value("PARKED", SeqStatus::kParked);
  py::enum_<FinishReason>(m, "FinishReason")
      .value("NONE", FinishReason::kNone)
      .value("STOP", FinishReason::kStop)
      .value("LENGTH", FinishReason::kLength);

  py::class_<BatchLoopConfig>(m, "BatchLoopConfig")
      .def(py::init([](int32_t num_blocks, int32_t block_size, int32_t max_num_seqs,
                       int32_t max_num_batched_tokens, int32_t max_model_len,
                       bool enable_prefix_caching, int32_t hash_bits) {
             return BatchLoopConfig{num_blocks,    block_size,           max_num_seqs,
                                    max_num_batched_tokens, max_model_len, enable_prefix_caching,
                                    hash_bits};
           }),
           py::arg("num_blocks") = 1024, py::arg("block_size") = 16,
           py::arg("max_num_seqs") = 256, py::arg("max_num_batched_tokens") = 2048,
           py::arg("max_model_len") = 4096, py::arg("enable_prefix_caching") = true,
           py::arg("hash_bits") = 64)
      .def_readonly("num_blocks", &BatchLoopConfig::num_blocks)
      .def_readonly("block_size", &BatchLoopConfig::block_size)
      .def_readonly("max_num_seqs", &BatchLoopConfig::max_num_seqs)
      .def_readonly("max_num_batched_tokens", &BatchLoopConfig::max_num_batched_tokens)
      .def_readonly("max_model_len", &BatchLoopConfig::max_model_len)
      .def_readonly("enable_prefix_caching", &BatchLoopConfig::enable_prefix_caching);

  py::class_<SeqInfo>(m, "SeqInfo")
      .def_readonly("status", &SeqInfo::status)
      .def_readonly("num_tokens", &SeqInfo::num_tokens)
      .def_readonly("num_computed_tokens", &SeqInfo::num_computed_tokens)
      .def_readonly("num_output_tokens", &SeqInfo::num_output_tokens)
      .def_readonly("priority", &SeqInfo::priority)
      .def_readonly("has_blocks", &SeqInfo::has_blocks);

  py::class_<LoopStats>(m, "LoopStats")
      .def_readonly("num_steps", &LoopStats::num_steps)
      .def_readonly("num_preemptions", &LoopStats::num_preemptions)
      .def_readonly("num_reclaimed_pins", &LoopStats::num_reclaimed_pins)
      .def_readonly("num_admitted_tokens", &LoopStats::num_admitted_tokens)
      .def_readonly("num_reused_tokens", &LoopStats::num_reused_tokens);

  RegisterPlan(m);

  py::class_<BatchLoop>(m, "BatchLoop", R"doc(
The continuous-batching scheduler (see csrc/include/paste/batch_loop.h for the algorithm).
Call schedule(now) and commit(tokens) alternately from one thread; add/resume/park/free are
refused between them.)doc")
      .def(py::init<const BatchLoopConfig&>(), py::arg("config"))
      .def(
          "add_sequence",
          [](BatchLoop& loop, const py::object& tokens, int32_t max_tokens,
             const py::object& stop_token_ids, double priority, bool park_on_finish,
             double pin_ttl_s) {
            auto t = ToTokenVector(tokens, "tokens");
            SeqParams p = MakeParams(max_tokens, stop_token_ids, priority, park_on_finish,
                                     pin_ttl_s);
            return loop.AddSequence(t.data(), static_cast<int32_t>(t.size()), p);
          },
          py::arg("tokens"), py::kw_only(), py::arg("max_tokens") = 256,
          py::arg("stop_token_ids") = py::list(), py::arg("priority") = 0.0,
          py::arg("park_on_finish") = false, py::arg("pin_ttl_s") = 30.0)
      .def(
          "resume",
          [](BatchLoop& loop, int64_t seq_id, const py::object& tokens, int32_t max_tokens,
             double priority) {
            auto t = ToTokenVector(tokens, "tokens");
            loop.Resume(seq_id, t.data(), static_cast<int32_t>(t.size()), max_tokens, priority);
          },
          py::arg("seq_id"), py::arg("tokens"), py::kw_only(), py::arg("max_tokens") = 256,
          py::arg("priority") = 0.0)
      .def("park", &BatchLoop::Park, py::arg("seq_id"), py::arg("expiry"))
      .def("free", &BatchLoop::Free, py::arg("seq_id"))
      .def("set_priority", &BatchLoop::SetPriority, py::arg("seq_id"), py::arg("priority"))
      .def(
          "schedule", [](BatchLoop& loop, double now) { return StepPlan(loop.Schedule(now)); },
          py::arg("now"), py::call_guard<py::gil_scoped_release>())
      .def(
          "commit",
          [](BatchLoop& loop,
             const py::array_t<int32_t, py::array::c_style | py::array::forcecast>& sampled) {
            PASTE_CHECK_ARG(sampled.ndim() == 1, "sampled tokens must be one-dimensional");
            const int32_t* data = sampled.data();
            auto n = static_cast<int32_t>(sampled.size());
            py::gil_scoped_release release;
            return StepEvents(loop.Commit(data, n));
          },
          py::arg("sampled"))
      .def("has_sequence", &BatchLoop::HasSequence, py::arg("seq_id"))
      .def("seq_info", &BatchLoop::GetSeqInfo, py::arg("seq_id"))
      .def("tokens", &BatchLoop::Tokens, py::arg("seq_id"))
      .def("running_order", &BatchLoop::RunningOrder)
      .def("waiting_order", &BatchLoop::WaitingOrder)
      .def_property_readonly("num_waiting", &BatchLoop::NumWaiting)
      .def_property_readonly("num_running", &BatchLoop::NumRunning)
      .def_property_readonly("num_parked", &BatchLoop::NumParked)
      .def_property_readonly("has_unfinished", &BatchLoop::HasUnfinished)
      .def_property_readonly("step_in_flight", &BatchLoop::StepInFlight)
      .def_property_readonly("config", &BatchLoop::config)
      .def_property_readonly("stats", &BatchLoop::stats)
      .def_property_readonly("block_manager", &BatchLoop::block_manager,
                             py::return_value_policy::reference_internal);
}

}  // namespace paste::bindings
