// Python binding of paste::ProposeNgramDraft (paste._core.propose_ngram_draft): the batch loop
// drafts on its own; this entry point lets the engine and tests see the same proposals.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <vector>

#include "convert.h"
#include "paste/ngram_proposer.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

void RegisterNgramProposer(py::module_& m) {
  m.def(
      "propose_ngram_draft",
      [](const py::object& tokens, int32_t min_n, int32_t max_n, int32_t k) {
        auto t = ToTokenVector(tokens, "tokens");
        const auto n = static_cast<int32_t>(t.size());
        // One call on one sequence's tokens: too little work to be worth releasing the GIL.
        std::vector<int32_t> out(static_cast<size_t>(std::max(0, std::min(k, n))));
        const int32_t count = ProposeNgramDraft(t.data(), n, min_n, max_n, k, out.data());
        out.resize(static_cast<size_t>(count));
        return ToNumpy(out);
      },
      py::arg("tokens"), py::arg("min_n"), py::arg("max_n"), py::arg("k"),
      R"doc(Prompt-lookup draft (csrc/include/paste/ngram_proposer.h): the suffix of `tokens` of
length max_n down to min_n (longest first) is looked up at its latest earlier occurrence, and
up to k tokens that followed it are returned (int32 array; empty when nothing matches or
k <= 0).)doc");
}

}  // namespace paste::bindings
