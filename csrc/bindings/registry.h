// The binding registrars, one per core component; module.cc calls them in order.
#ifndef PASTE_BINDINGS_REGISTRY_H_
#define PASTE_BINDINGS_REGISTRY_H_

#include <pybind11/pybind11.h>

namespace paste::bindings {

void RegisterErrors(pybind11::module_& m);
void RegisterBlockManager(pybind11::module_& m);
void RegisterBatchLoop(pybind11::module_& m);
void RegisterNgramProposer(pybind11::module_& m);  // propose_ngram_draft
void RegisterPagedAttention(pybind11::module_& m);
void RegisterToolCallCore(pybind11::module_& m);  // DispatchQueue, TrieMatcher, ToolCallScanner
void RegisterCuda(pybind11::module_& m);  // submodule cuda: CUDA kernels (or their typed error)

}  // namespace paste::bindings

#endif  // PASTE_BINDINGS_REGISTRY_H_
