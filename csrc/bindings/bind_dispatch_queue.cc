// Python bindings of paste::DispatchQueue: job ids in, (job_ids, lanes) numpy arrays out; the
// GIL is released on batch pops so that worker threads can block in pop_batch (try_pop, one job
// and never blocking, keeps it: paste.tools' lanes call it once per freed slot).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <utility>
#include <vector>

#include "convert.h"
#include "paste/dispatch_queue.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

// Defined in bind_matcher.cc and bind_scanner.cc; registered together below.
void RegisterTrieMatcher(py::module_& m);
void RegisterToolCallScanner(py::module_& m);

namespace {

py::tuple ToArrays(const std::vector<PoppedJob>& jobs) {
  std::vector<int64_t> ids(jobs.size());
  std::vector<int8_t> lanes(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    ids[i] = jobs[i].job_id;
    lanes[i] = static_cast<int8_t>(jobs[i].lane);
  }
  return py::make_tuple(ToNumpy(ids), ToNumpy(lanes));
}

}  // namespace

void RegisterDispatchQueue(py::module_& m) {
  py::enum_<Lane>(m, "Lane", "Lane of a tool job: authoritative jobs always pop first.")
      .value("AUTHORITATIVE", Lane::kAuthoritative)
      .value("SPECULATIVE", Lane::kSpeculative);

  py::class_<DispatchQueue>(m, "DispatchQueue", R"doc(
Lock-free MPMC queue of tool job ids with two lanes (see csrc/include/paste/dispatch_queue.h).
Pops return (job_ids: int64 array, lanes: int8 array), authoritative jobs first, FIFO per lane.
Every method may be called from any thread; pops release the GIL.)doc")
      .def(py::init<int32_t>(), py::arg("capacity"))
      .def_property_readonly("capacity", &DispatchQueue::capacity)
      .def_property_readonly("closed", &DispatchQueue::closed)
      .def("try_push", &DispatchQueue::TryPush, py::arg("job_id"), py::arg("lane"),
           "Queue job_id in lane; False when the lane is full.")
      .def("push", &DispatchQueue::Push, py::arg("job_id"), py::arg("lane"),
           "Queue job_id in lane; raises paste.errors.QueueFullError when the lane is full.")
      .def(
          "try_pop",
          [](DispatchQueue& q) -> py::object {
            PoppedJob job{};
            if (!q.TryPop(&job)) return py::none();  // never blocks: the GIL stays held
            return py::make_tuple(job.job_id, job.lane);
          },
          "One job as (job_id, Lane), authoritative first, or None; never blocks.")
      .def(
          "try_pop_batch",
          [](DispatchQueue& q, int32_t max_jobs) {
            std::vector<PoppedJob> jobs;
            {
              py::gil_scoped_release release;
              q.TryPopBatch(max_jobs, &jobs);
            }
            return ToArrays(jobs);
          },
          py::arg("max_jobs"), "Up to max_jobs jobs, never blocks.")
      .def(
          "pop_batch",
          [](DispatchQueue& q, int32_t max_jobs, double timeout_s) {
            std::vector<PoppedJob> jobs;
            {
              py::gil_scoped_release release;
              q.PopBatch(max_jobs, timeout_s, &jobs);
            }
            return ToArrays(jobs);
          },
          py::arg("max_jobs"), py::arg("timeout_s"),
          "Up to max_jobs jobs; waits up to timeout_s for the first one (empty on timeout or "
          "when closed and empty).")
      .def("cancel", &DispatchQueue::Cancel, py::arg("job_id"),
           "True iff the queued job is now cancelled and will never be popped.")
      .def("promote", &DispatchQueue::Promote, py::arg("job_id"),
           "Move a queued speculative job to the authoritative tail; False if not queued "
           "speculative or the authoritative lane is full.")
      .def("close", &DispatchQueue::Close, "Wake sleeping pop_batch calls; they stop waiting.")
      .def("num_queued", &DispatchQueue::NumQueued, py::arg("lane"),
           "Approximate number of queued jobs in lane.")
      .def("lane_of", &DispatchQueue::LaneOf, py::arg("job_id"),
           "Lane (0 authoritative, 1 speculative) of a queued job, -1 if not queued.");
}

void RegisterToolCallCore(py::module_& m) {
  RegisterDispatchQueue(m);
  RegisterTrieMatcher(m);
  RegisterToolCallScanner(m);
}

}  // namespace paste::bindings
