// Conversions between Python values and the flat arrays the core uses.
#ifndef PASTE_BINDINGS_CONVERT_H_
#define PASTE_BINDINGS_CONVERT_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "paste/errors.h"

namespace paste::bindings {

namespace py = pybind11;

// A sequence of token ids (list of ints or an integer numpy array) -> int32 vector.
// Rejects non-integer arrays and values outside int32 with InvalidArgument.
inline std::vector<int32_t> ToTokenVector(const py::handle& obj, const char* what) {
  py::array arr = py::array::ensure(obj);
  PASTE_CHECK_ARG(arr, what, " must be a sequence of integers");
  if (arr.size() == 0) return {};
  char kind = arr.dtype().kind();
  PASTE_CHECK_ARG(kind == 'i' || kind == 'u', what, " must hold integers, got dtype kind '",
                  kind, "'");
  PASTE_CHECK_ARG(arr.ndim() == 1, what, " must be one-dimensional");
  auto as64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
  std::vector<int32_t> out(static_cast<size_t>(as64.size()));
  const int64_t* data = as64.data();
  for (size_t i = 0; i < out.size(); ++i) {
    PASTE_CHECK_ARG(data[i] >= 0 && data[i] <= std::numeric_limits<int32_t>::max(), what,
                    "[", i, "] = ", data[i], " is not a valid token id");
    out[i] = static_cast<int32_t>(data[i]);
  }
  return out;
}

// Copies a vector into a new numpy array (plans are snapshots, never views of core state).
template <typename T>
py::array_t<T> ToNumpy(const std::vector<T>& v) {
  py::array_t<T> arr(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(arr.mutable_data(), v.data(), v.size() * sizeof(T));
  return arr;
}

using Int64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using Int32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// The per-step batch input of the scanner and the matcher (and BatchLoop.set_drafts):
// sequence seq_ids[i] produced tokens[offsets[i]:offsets[i+1]]. Checks the shapes, naming the
// offsets array as the caller's API does; returns the number of sequences.
inline int32_t CheckTokenBatch(const Int64Array& seq_ids, const Int32Array& offsets,
                               const Int32Array& tokens,
                               const char* offsets_name = "token_offsets") {
  PASTE_CHECK_ARG(seq_ids.ndim() == 1 && offsets.ndim() == 1 && tokens.ndim() == 1,
                  "seq_ids, ", offsets_name, " and tokens must be one-dimensional");
  auto n = static_cast<int32_t>(seq_ids.size());
  PASTE_CHECK_ARG(offsets.size() == n + 1, offsets_name, " must have ", n + 1,
                  " entries, got ", offsets.size());
  PASTE_CHECK_ARG(n == 0 || offsets.data()[n] <= tokens.size(), offsets_name,
                  " point past the ", tokens.size(), " tokens given");
  return n;
}

}  // namespace paste::bindings

#endif  // PASTE_BINDINGS_CONVERT_H_
