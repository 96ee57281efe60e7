// paste._core: the native core of paste. The Python-facing names mirror the C++ ones in
// snake_case (AddSequence -> add_sequence); Python objects are thin handles to C++ objects.
#include <pybind11/pybind11.h>

#include "registry.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "paste native core: KV block manager, continuous-batching loop";
  paste::bindings::RegisterErrors(m);
  paste::bindings::RegisterBlockManager(m);
  paste::bindings::RegisterBatchLoop(m);
  paste::bindings::RegisterNgramProposer(m);
  paste::bindings::RegisterPagedAttention(m);
  paste::bindings::RegisterToolCallCore(m);
  paste::bindings::RegisterCuda(m);
}
