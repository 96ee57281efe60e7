// Python bindings of paste::TrieMatcher: one advance() per engine step over flat numpy arrays,
// GIL released while the core matches.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "convert.h"
#include "paste/trie_matcher.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;


void RegisterTrieMatcher(py::module_& m) {
  py::enum_<MatchStatus>(m, "MatchStatus", "Status of a sequence's cursor after a step.")
      .value("PENDING", MatchStatus::kPending)
      .value("CONFIRMED", MatchStatus::kConfirmed)
      .value("REFUTED", MatchStatus::kRefuted);

  py::class_<MatchState>(m, "MatchState", "Cursor state of one sequence (a snapshot).")
      .def_readonly("status", &MatchState::status)
      .def_readonly("candidate_id", &MatchState::candidate_id)
      .def_readonly("num_matched", &MatchState::num_matched)
      .def_readonly("num_decoded", &MatchState::num_decoded)
      .def("__repr__", [](const MatchState& s) {
        return detail::Concat("MatchState(status=", static_cast<int>(s.status),
                              ", candidate_id=", s.candidate_id, ", num_matched=", s.num_matched,
                              ", num_decoded=", s.num_decoded, ")");
      });

  py::class_<TrieMatcher>(m, "TrieMatcher", R"doc(
Matches each sequence's decoded tokens against the token tries of its predicted calls (see
csrc/include/paste/trie_matcher.h). advance() takes one engine step for many sequences and
returns (status: int8 [n] of MatchStatus, candidate_ids: int64 [n] (-1 unless CONFIRMED),
num_matched: int32 [n]). Driven by one thread.)doc")
      .def(py::init<>())
      .def("add_sequence", &TrieMatcher::AddSequence, py::arg("seq_id"))
      .def("remove_sequence", &TrieMatcher::RemoveSequence, py::arg("seq_id"))
      .def("has_sequence", &TrieMatcher::HasSequence, py::arg("seq_id"))
      .def_property_readonly("num_sequences", &TrieMatcher::NumSequences)
      .def(
          "add_candidate",
          [](TrieMatcher& tm, int64_t seq_id, int64_t cand_id, const py::object& tokens) {
            auto t = ToTokenVector(tokens, "tokens");
            tm.AddCandidate(seq_id, cand_id, t.data(), static_cast<int32_t>(t.size()));
          },
          py::arg("seq_id"), py::arg("cand_id"), py::arg("tokens"))
      .def("remove_candidate", &TrieMatcher::RemoveCandidate, py::arg("seq_id"),
           py::arg("cand_id"))
      .def("clear_candidates", &TrieMatcher::ClearCandidates, py::arg("seq_id"))
      .def("num_candidates", &TrieMatcher::NumCandidates, py::arg("seq_id"))
      .def("reset", &TrieMatcher::Reset, py::arg("seq_id"),
           "Forget the decoded tokens; matching restarts at the next token.")
      .def("rollback", &TrieMatcher::Rollback, py::arg("seq_id"), py::arg("num_tokens"))
      .def("state", &TrieMatcher::State, py::arg("seq_id"))
      .def(
          "advance",
          [](TrieMatcher& tm, const Int64Array& seq_ids, const Int32Array& token_offsets,
             const Int32Array& tokens) {
            const int32_t n = CheckTokenBatch(seq_ids, token_offsets, tokens);
            MatchResults r;
            {
              py::gil_scoped_release release;
              tm.Advance(seq_ids.data(), n, token_offsets.data(), tokens.data(), &r);
            }
            return py::make_tuple(ToNumpy(r.status), ToNumpy(r.candidate_ids),
                                  ToNumpy(r.num_matched));
          },
          py::arg("seq_ids"), py::arg("token_offsets"), py::arg("tokens"),
          "Sequence seq_ids[i] decoded tokens[token_offsets[i]:token_offsets[i+1]].");
}

}  // namespace paste::bindings
