// Python bindings of paste::BatchLoop: one crossing per step (schedule, commit), flat numpy
// arrays out, GIL released while the core works.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <utility>
#include <vector>

#include "convert.h"
#include "paste/batch_loop.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

namespace {

SeqParams MakeParams(int32_t max_tokens, const py::object& stop_token_ids, double priority,
                     bool park_on_finish, double pin_ttl_s, int32_t num_draft_tokens,
                     bool prompt_logits, uint64_t cache_salt, int32_t lora_id) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.stop_token_ids = ToTokenVector(stop_token_ids, "stop_token_ids");
  p.priority = priority;
  p.park_on_finish = park_on_finish;
  p.pin_ttl_s = pin_ttl_s;
  p.num_draft_tokens = num_draft_tokens;
  p.prompt_logits = prompt_logits;
  p.cache_salt = cache_salt;
  p.lora_id = lora_id;
  return p;
}

// Python handles of one step's plan / events. The arrays they hand out are read-only numpy
// views of the loop's own buffers (no copy): those buffers never reallocate (see
// BatchLoop::Schedule), and each view keeps the loop alive. A view shows the CURRENT step's data
// until the next schedule() (plan) / commit() (events); reading a property of an older handle
// raises, so a stale plan cannot be used by mistake. Copy an array to keep it.
struct PlanHandle {
  py::object owner;  // the BatchLoop Python object
  const BatchLoop* loop;
  int64_t step;
  const StepPlan& Get() const {
    PASTE_CHECK_ARG(loop->last_plan().step == step && loop->stats().num_steps == step + 1,
                    "this StepPlan (step ", step, ") is stale: a later schedule() replaced it");
    return loop->last_plan();
  }
};

struct EventsHandle {
  py::object owner;
  const BatchLoop* loop;
  int64_t commit;
  const StepEvents& Get() const {
    PASTE_CHECK_ARG(loop->num_commits() == commit,
                    "these StepEvents are stale: a later commit() replaced them");
    return loop->last_events();
  }
};

template <typename T>
py::array ReadOnlyView(const std::vector<T>& v, py::handle base) {
  static const T kEmpty{};
  py::array_t<T> arr({static_cast<py::ssize_t>(v.size())},
                     {static_cast<py::ssize_t>(sizeof(T))}, v.empty() ? &kEmpty : v.data(),
                     base);
  py::detail::array_proxy(arr.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return std::move(arr);
}

template <typename T, typename Class>
void DefView(Class& cls, const char* name, std::vector<T> StepPlan::*field, const char* doc) {
  cls.def_property_readonly(
      name,
      [field](py::object self) {
        const StepPlan& p = self.cast<const PlanHandle&>().Get();
        return ReadOnlyView(p.*field, self);
      },
      doc);
}

template <typename T, typename Class>
void DefCopy(Class& cls, const char* name, std::vector<T> StepPlan::*field, const char* doc) {
  cls.def_property_readonly(
      name, [field](const PlanHandle& h) { return ToNumpy(h.Get().*field); }, doc);
}

void RegisterPlan(py::module_& m) {
  py::class_<PlanHandle> plan(m, "StepPlan",
                              "One step's work as flat arrays (read-only views, valid until the "
                              "next schedule()).");
  plan.def_property_readonly("step", [](const PlanHandle& h) { return h.Get().step; })
      .def_property_readonly("num_seqs",
                             [](const PlanHandle& h) { return h.Get().seq_ids.size(); })
      .def_property_readonly("num_tokens",
                             [](const PlanHandle& h) { return h.Get().num_tokens(); });
  DefView(plan, "seq_ids", &StepPlan::seq_ids, "[n] int64, batch order");
  DefView(plan, "query_start_loc", &StepPlan::query_start_loc, "[n+1] token offsets");
  DefView(plan, "num_computed_tokens", &StepPlan::num_computed_tokens, "[n] KV before step");
  DefView(plan, "seq_lens", &StepPlan::seq_lens, "[n] KV tokens after this step");
  DefView(plan, "input_ids", &StepPlan::input_ids, "[T]");
  DefView(plan, "positions", &StepPlan::positions, "[T]");
  DefView(plan, "slot_mapping", &StepPlan::slot_mapping, "[T] block_id*block_size+offset");
  DefView(plan, "kv_indptr", &StepPlan::kv_indptr, "[n+1] CSR block table offsets");
  DefView(plan, "kv_indices", &StepPlan::kv_indices, "CSR block ids");
  DefView(plan, "kv_last_page_len", &StepPlan::kv_last_page_len, "[n]");
  DefView(plan, "logits_indices", &StepPlan::logits_indices,
          "[sample_indptr[m]] token rows to compute logits for (each sampler's last token, "
          "then its drafts)");
  DefView(plan, "sample_indptr", &StepPlan::sample_indptr,
          "[m+1] sampler i owns logits rows sample_indptr[i]:sample_indptr[i+1]");
  DefView(plan, "sample_seq_ids", &StepPlan::sample_seq_ids, "[m] sequences that sample");
  DefView(plan, "draft_tokens", &StepPlan::draft_tokens,
          "draft tokens in sampler order; sampler i's are "
          "draft_tokens[sample_indptr[i]-i:sample_indptr[i+1]-(i+1)]");
  DefView(plan, "prompt_logits_indices", &StepPlan::prompt_logits_indices,
          "rows whose logits score the next prompt token (add_sequence(prompt_logits=True))");
  DefView(plan, "prompt_logits_indptr", &StepPlan::prompt_logits_indptr,
          "[k+1] sequence i owns prompt_logits_indices[indptr[i]:indptr[i+1]]");
  DefView(plan, "prompt_logits_seq_ids", &StepPlan::prompt_logits_seq_ids,
          "[k] sequences with prompt rows this step");
  DefView(plan, "admitted_seq_ids", &StepPlan::admitted_seq_ids, "admitted this step");
  DefView(plan, "admitted_num_reused", &StepPlan::admitted_num_reused,
          "[a] reused KV tokens per admitted sequence");
  DefCopy(plan, "preempted_seq_ids", &StepPlan::preempted_seq_ids, "preempted this step");
  DefCopy(plan, "reclaimed_seq_ids", &StepPlan::reclaimed_seq_ids, "pins reclaimed");

  py::class_<EventsHandle> ev(m, "StepEvents",
                              "One entry per appended token (accepted drafts, then the sampled "
                              "token), plan order (read-only views, valid until the next "
                              "commit()).");
  ev.def_property_readonly("seq_ids",
                           [](py::object self) {
                             return ReadOnlyView(self.cast<const EventsHandle&>().Get().seq_ids,
                                                 self);
                           })
      .def_property_readonly("tokens",
                             [](py::object self) {
                               return ReadOnlyView(
                                   self.cast<const EventsHandle&>().Get().tokens, self);
                             })
      .def_property_readonly("finish_reasons",
                             [](py::object self) {
                               return ReadOnlyView(
                                   self.cast<const EventsHandle&>().Get().finish_reasons, self);
                             })
      .def("__len__", [](const EventsHandle& h) { return h.Get().seq_ids.size(); });
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
                       bool enable_prefix_caching, int32_t hash_bits, int32_t draft_ngram_min,
                       int32_t draft_ngram_max, std::vector<double> draft_step_costs,
                       int32_t max_loras) {
             return BatchLoopConfig{num_blocks,       block_size,      max_num_seqs,
                                    max_num_batched_tokens, max_model_len, enable_prefix_caching,
                                    hash_bits,        draft_ngram_min, draft_ngram_max,
                                    std::move(draft_step_costs), max_loras};
           }),
           py::arg("num_blocks") = 1024, py::arg("block_size") = 16,
           py::arg("max_num_seqs") = 256, py::arg("max_num_batched_tokens") = 2048,
           py::arg("max_model_len") = 4096, py::arg("enable_prefix_caching") = true,
           py::arg("hash_bits") = 64, py::arg("draft_ngram_min") = 2,
           py::arg("draft_ngram_max") = 4, py::arg("draft_step_costs") = std::vector<double>{},
           py::arg("max_loras") = 0,
           "draft_step_costs[r-1]: the cost of a step computing r query rows; when given, "
           "n-gram drafts are cut to the lengths of highest goodput (draft_policy.h). "
           "max_loras: at most this many distinct LoRA adapters (lora_id != 0) running at once "
           "(0 = no bound).")
      .def_readonly("num_blocks", &BatchLoopConfig::num_blocks)
      .def_readonly("block_size", &BatchLoopConfig::block_size)
      .def_readonly("max_num_seqs", &BatchLoopConfig::max_num_seqs)
      .def_readonly("max_num_batched_tokens", &BatchLoopConfig::max_num_batched_tokens)
      .def_readonly("max_model_len", &BatchLoopConfig::max_model_len)
      .def_readonly("enable_prefix_caching", &BatchLoopConfig::enable_prefix_caching)
      .def_readonly("draft_ngram_min", &BatchLoopConfig::draft_ngram_min)
      .def_readonly("draft_ngram_max", &BatchLoopConfig::draft_ngram_max)
      .def_readonly("draft_step_costs", &BatchLoopConfig::draft_step_costs)
      .def_readonly("max_loras", &BatchLoopConfig::max_loras);

  py::class_<SeqInfo>(m, "SeqInfo")
      .def_readonly("status", &SeqInfo::status)
      .def_readonly("num_tokens", &SeqInfo::num_tokens)
      .def_readonly("num_computed_tokens", &SeqInfo::num_computed_tokens)
      .def_readonly("num_output_tokens", &SeqInfo::num_output_tokens)
      .def_readonly("priority", &SeqInfo::priority)
      .def_readonly("has_blocks", &SeqInfo::has_blocks)
      .def_readonly("draft_acceptance", &SeqInfo::draft_acceptance)
      .def_readonly("cache_salt", &SeqInfo::cache_salt)
      .def_readonly("lora_id", &SeqInfo::lora_id);

  py::class_<LoopStats>(m, "LoopStats")
      .def_readonly("num_steps", &LoopStats::num_steps)
      .def_readonly("num_preemptions", &LoopStats::num_preemptions)
      .def_readonly("num_reclaimed_pins", &LoopStats::num_reclaimed_pins)
      .def_readonly("num_admitted_tokens", &LoopStats::num_admitted_tokens)
      .def_readonly("num_reused_tokens", &LoopStats::num_reused_tokens)
      .def_readonly("num_draft_tokens", &LoopStats::num_draft_tokens)
      .def_readonly("num_accepted_draft_tokens", &LoopStats::num_accepted_draft_tokens);

  RegisterPlan(m);

  py::class_<BatchLoop>(m, "BatchLoop", R"doc(
The continuous-batching scheduler (see csrc/include/paste/batch_loop.h for the algorithm).
Call schedule(now) and commit(tokens) (or abandon_step()) alternately from one thread;
add/resume/park/free/set_drafts are refused between them.)doc")
      .def(py::init<const BatchLoopConfig&>(), py::arg("config"))
      .def(
          "add_sequence",
          [](BatchLoop& loop, const py::object& tokens, int32_t max_tokens,
             const py::object& stop_token_ids, double priority, bool park_on_finish,
             double pin_ttl_s, int32_t num_draft_tokens, bool prompt_logits,
             uint64_t cache_salt, int32_t lora_id) {
            auto t = ToTokenVector(tokens, "tokens");
            SeqParams p = MakeParams(max_tokens, stop_token_ids, priority, park_on_finish,
                                     pin_ttl_s, num_draft_tokens, prompt_logits, cache_salt,
                                     lora_id);
            return loop.AddSequence(t.data(), static_cast<int32_t>(t.size()), p);
          },
          py::arg("tokens"), py::kw_only(), py::arg("max_tokens") = 256,
          py::arg("stop_token_ids") = py::list(), py::arg("priority") = 0.0,
          py::arg("park_on_finish") = false, py::arg("pin_ttl_s") = 30.0,
          py::arg("num_draft_tokens") = 0, py::arg("prompt_logits") = false,
          py::arg("cache_salt") = 0, py::arg("lora_id") = 0,
          "num_draft_tokens: n-gram draft tokens per decoding step, at most (0 = none). "
          "prompt_logits: list every prompt row but the last in plan.prompt_logits_indices "
          "(no cached prefix is reused until they are computed). cache_salt: the prefix-cache "
          "namespace (0 = common); cached KV is shared only between sequences of one salt. "
          "lora_id: its LoRA adapter (0 = the base model), counted against max_loras.")
      .def(
          "resume",
          [](BatchLoop& loop, int64_t seq_id, const py::object& tokens, int32_t max_tokens,
             double priority, const py::object& stop_token_ids, const py::object& pin_ttl_s) {
            auto t = ToTokenVector(tokens, "tokens");
            std::optional<std::vector<int32_t>> stops;
            if (!stop_token_ids.is_none()) stops = ToTokenVector(stop_token_ids, "stop_token_ids");
            std::optional<double> pin;
            if (!pin_ttl_s.is_none()) pin = pin_ttl_s.cast<double>();
            loop.Resume(seq_id, t.data(), static_cast<int32_t>(t.size()), max_tokens, priority,
                        stops, pin);
          },
          py::arg("seq_id"), py::arg("tokens"), py::kw_only(), py::arg("max_tokens") = 256,
          py::arg("priority") = 0.0, py::arg("stop_token_ids") = py::none(),
          py::arg("pin_ttl_s") = py::none(),
          "The new turn's stop_token_ids / pin_ttl_s replace the previous turn's (None keeps "
          "them).")
      .def("park", &BatchLoop::Park, py::arg("seq_id"), py::arg("expiry"))
      .def("free", &BatchLoop::Free, py::arg("seq_id"))
      .def("set_priority", &BatchLoop::SetPriority, py::arg("seq_id"), py::arg("priority"))
      .def("set_draft_step_costs", &BatchLoop::SetDraftStepCosts, py::arg("costs"),
           "Replaces the step-cost table of the drafts' goodput rule from the next schedule() "
           "on (empty: every proposed n-gram draft is verified).")
      .def("set_num_draft_tokens", &BatchLoop::SetNumDraftTokens, py::arg("seq_id"),
           py::arg("k"), "n-gram draft tokens per decoding step from the next schedule() on.")
      .def(
          "set_drafts",
          [](BatchLoop& loop, const Int64Array& seq_ids, const Int32Array& indptr,
             const Int32Array& tokens) {
            const int32_t n = CheckTokenBatch(seq_ids, indptr, tokens, "indptr");
            py::gil_scoped_release release;
            loop.SetDrafts(seq_ids.data(), n, indptr.data(), tokens.data());
          },
          py::arg("seq_ids"), py::arg("indptr"), py::arg("tokens"),
          "Explicit drafts for the next schedule() only: sequence seq_ids[i] gets "
          "tokens[indptr[i]:indptr[i+1]] instead of its n-gram proposal.")
      .def(
          "schedule",
          [](py::object self, double now) {
            BatchLoop& loop = self.cast<BatchLoop&>();
            int64_t step;
            {
              py::gil_scoped_release release;
              step = loop.Schedule(now).step;
            }
            return PlanHandle{self, &loop, step};
          },
          py::arg("now"))
      .def(
          "commit",
          [](py::object self, const Int32Array& sampled, const py::object& num_accepted) {
            BatchLoop& loop = self.cast<BatchLoop&>();
            PASTE_CHECK_ARG(sampled.ndim() == 1, "sampled tokens must be one-dimensional");
            Int32Array accepted;  // stays alive (and its data valid) for the call below
            const int32_t* accepted_data = nullptr;
            int32_t num_accepted_len = 0;
            if (!num_accepted.is_none()) {
              accepted = Int32Array::ensure(num_accepted);
              PASTE_CHECK_ARG(accepted && accepted.ndim() == 1,
                              "num_accepted must be a one-dimensional sequence of integers");
              accepted_data = accepted.data();
              num_accepted_len = static_cast<int32_t>(accepted.size());
            }
            const int32_t* data = sampled.data();
            auto n = static_cast<int32_t>(sampled.size());
            {
              py::gil_scoped_release release;
              loop.Commit(data, n, accepted_data, num_accepted_len);
            }
            return EventsHandle{self, &loop, loop.num_commits()};
          },
          py::arg("sampled"), py::arg("num_accepted") = py::none(),
          "sampled[i] for plan.sample_seq_ids[i], after its num_accepted[i] accepted leading "
          "drafts (None: none accepted).")
      .def("abandon_step", &BatchLoop::AbandonStep,
           "Drop the scheduled step uncommitted (the model step failed); the next schedule() "
           "plans the same tokens again.")
      .def("reset_prefix_cache", &BatchLoop::ResetPrefixCache,
           "Evict every cached free block (held blocks keep their content); the number "
           "evicted.")
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
