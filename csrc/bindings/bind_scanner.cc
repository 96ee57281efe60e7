// Python bindings of paste::ToolCallScanner: one scan() per engine step over flat numpy arrays,
// events back as flat numpy arrays, GIL released while the core scans.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "convert.h"
#include "paste/tool_call_scanner.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;


namespace {

ScannerConfig MakeConfig(ScanMode mode, const py::object& start_tag, const py::object& end_tag,
                         bool json_start_anywhere, bool code_fences) {
  ScannerConfig c;
  c.mode = mode;
  c.start_tag = ToTokenVector(start_tag, "start_tag");
  c.end_tag = ToTokenVector(end_tag, "end_tag");
  c.json_start_anywhere = json_start_anywhere;
  c.code_fences = code_fences;
  return c;
}

// A sequence of bytes (or str, taken as UTF-8), one per token id -> flat table.
void SetVocabulary(ToolCallScanner& sc, const py::sequence& token_bytes) {
  std::vector<int64_t> offsets{0};
  std::vector<uint8_t> bytes;
  offsets.reserve(token_bytes.size() + 1);
  for (const py::handle& item : token_bytes) {
    std::string s;
    if (py::isinstance<py::bytes>(item)) {
      s = item.cast<std::string>();
    } else if (py::isinstance<py::str>(item)) {
      s = item.cast<std::string>();
    } else {
      throw InvalidArgument(detail::Concat("vocabulary entry ", offsets.size() - 1,
                                           " must be bytes or str"));
    }
    bytes.insert(bytes.end(), s.begin(), s.end());
    offsets.push_back(static_cast<int64_t>(bytes.size()));
  }
  PASTE_CHECK_ARG(offsets.size() - 1 <= static_cast<size_t>(INT32_MAX), "vocabulary too large");
  sc.SetVocabulary(offsets.data(), static_cast<int32_t>(offsets.size() - 1), bytes.data());
}

}  // namespace

void RegisterToolCallScanner(py::module_& m) {
  py::enum_<ScanMode>(m, "ScanMode", "How a model format marks its tool calls.")
      .value("TAG", ScanMode::kTag)
      .value("JSON", ScanMode::kJson);
  py::enum_<ScanEventKind>(m, "ScanEventKind", "Kind of a scanner event.")
      .value("CALL_START", ScanEventKind::kCallStart)
      .value("CALL_COMPLETE", ScanEventKind::kCallComplete);

  py::class_<ToolCallScanner>(m, "ToolCallScanner", R"doc(
Token-level detection of where tool calls start and end in each sequence's output (see
csrc/include/paste/tool_call_scanner.h). Tag mode: start_tag/end_tag token ids. Json mode:
set_vocabulary(token_bytes) once, then a top-level JSON object is a call. scan() takes one
engine step and returns (seq_ids: int64, kinds: int8 of ScanEventKind, token_indices: int32),
token indices counted per sequence from add_sequence/reset. Driven by one thread.)doc")
      .def(py::init([](ScanMode mode, const py::object& start_tag, const py::object& end_tag,
                       bool json_start_anywhere, bool code_fences) {
             return new ToolCallScanner(
                 MakeConfig(mode, start_tag, end_tag, json_start_anywhere, code_fences));
           }),
           py::arg("mode"), py::kw_only(), py::arg("start_tag") = py::list(),
           py::arg("end_tag") = py::list(), py::arg("json_start_anywhere") = false,
           py::arg("code_fences") = false)
      .def_property_readonly("mode", [](const ToolCallScanner& sc) { return sc.config().mode; })
      .def_property_readonly("vocab_size", &ToolCallScanner::vocab_size)
      .def("set_vocabulary", &SetVocabulary, py::arg("token_bytes"),
           "token_bytes[i] is the bytes (or str) of token id i.")
      .def("add_sequence", &ToolCallScanner::AddSequence, py::arg("seq_id"))
      .def("remove_sequence", &ToolCallScanner::RemoveSequence, py::arg("seq_id"))
      .def("has_sequence", &ToolCallScanner::HasSequence, py::arg("seq_id"))
      .def("reset", &ToolCallScanner::Reset, py::arg("seq_id"))
      .def("in_call", &ToolCallScanner::InCall, py::arg("seq_id"))
      .def("num_tokens", &ToolCallScanner::NumTokens, py::arg("seq_id"))
      .def(
          "scan",
          [](ToolCallScanner& sc, const Int64Array& seq_ids, const Int32Array& token_offsets,
             const Int32Array& tokens) {
            const int32_t n = CheckTokenBatch(seq_ids, token_offsets, tokens);
            ScanEvents ev;
            {
              py::gil_scoped_release release;
              sc.Scan(seq_ids.data(), n, token_offsets.data(), tokens.data(), &ev);
            }
            return py::make_tuple(ToNumpy(ev.seq_ids), ToNumpy(ev.kinds),
                                  ToNumpy(ev.token_indices));
          },
          py::arg("seq_ids"), py::arg("token_offsets"), py::arg("tokens"),
          "Sequence seq_ids[i] produced tokens[token_offsets[i]:token_offsets[i+1]].");
}

}  // namespace paste::bindings
