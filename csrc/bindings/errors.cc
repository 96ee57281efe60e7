// Translates the core's typed C++ errors into paste.errors classes (ValueError subclasses for
// bad input), looked up lazily so that paste.errors stays plain Python.
#include <pybind11/pybind11.h>

#include "paste/cuda_ops.h"
#include "paste/dispatch_queue.h"
#include "paste/errors.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

namespace {
void Raise(const char* name, const char* what) {
  py::object cls = py::module_::import("paste.errors").attr(name);
  PyErr_SetString(cls.ptr(), what);
}
}  // namespace

void RegisterErrors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const UnknownSequence& e) {
      Raise("UnknownSequenceError", e.what());
    } catch (const InvalidArgument& e) {
      Raise("InvalidArgumentError", e.what());
    } catch (const QueueFull& e) {
      Raise("QueueFullError", e.what());
    } catch (const OutOfBlocks& e) {
      Raise("OutOfBlocksError", e.what());
    } catch (const CudaUnavailable& e) {
      Raise("CudaUnavailableError", e.what());
    } catch (const InternalError& e) {
      Raise("InternalError", e.what());
    }
  });
}

}  // namespace paste::bindings
