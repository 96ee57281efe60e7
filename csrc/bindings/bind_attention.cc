// Python bindings of paste::PagedAttention (paste._core.PagedAttention).
//
// Tensors cross as integer addresses (torch.Tensor.data_ptr()) plus sizes and strides in
// elements, never as torch types; paste.kernels.cpu_attention checks dtype, device, shapes
// and contiguity before it passes them. The GIL is released while the kernel runs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>

#include "paste/errors.h"
#include "paste/paged_attention.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;

namespace {

using TokenArg = std::tuple<uintptr_t, int64_t, int64_t>;  // (data_ptr, token_stride, head_stride)
// (k data_ptr, v data_ptr, num_blocks, block_size, block_stride, slot_stride, head_stride)
using CacheArg = std::tuple<uintptr_t, uintptr_t, int32_t, int32_t, int64_t, int64_t, int64_t>;

DType ParseDType(const std::string& name) {
  if (name == "float32") return DType::kFloat32;
  if (name == "bfloat16") return DType::kBFloat16;
  throw InvalidArgument("dtype must be \"float32\" or \"bfloat16\", got \"" + name + "\"");
}

template <typename T>
T* Ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

TokenTensor ToTokens(const TokenArg& a) {
  return TokenTensor{Ptr<void>(std::get<0>(a)), std::get<1>(a), std::get<2>(a)};
}

PagedKVCache ToCache(const CacheArg& a) {
  auto [k, v, num_blocks, block_size, block_stride, slot_stride, head_stride] = a;
  return PagedKVCache{Ptr<void>(k),  Ptr<void>(v), num_blocks, block_size,
                      block_stride, slot_stride,  head_stride};
}

}  // namespace

void RegisterPagedAttention(py::module_& m) {
  py::class_<PagedAttention>(m, "PagedAttention", R"doc(
CPU paged attention for one model's attention shape (float32 or bfloat16 tensors): a slot-mapped
KV store and causal attention of a flat batch (chunked prefill and decode mixed) through a CSR
block table, parallel over (sequence, kv head, query chunk) on its own small thread pool.
Arguments are raw addresses and element strides; the caller keeps the memory alive and valid
for the sizes given. Plans (slots, block ids, lengths) are checked before anything is written.)doc")
      .def(py::init<int32_t, int32_t, int32_t, float, int32_t>(), py::arg("num_heads"),
           py::arg("num_kv_heads"), py::arg("head_dim"), py::arg("scale"),
           py::arg("num_threads") = 1)
      .def_property_readonly("num_heads", &PagedAttention::num_heads)
      .def_property_readonly("num_kv_heads", &PagedAttention::num_kv_heads)
      .def_property_readonly("head_dim", &PagedAttention::head_dim)
      .def_property_readonly("scale", &PagedAttention::scale)
      .def_property_readonly("num_threads", &PagedAttention::num_threads)
      .def(
          "store_kv",
          [](const PagedAttention& self, const std::string& dtype, int32_t num_tokens,
             const TokenArg& k, const TokenArg& v, uintptr_t slot_mapping, const CacheArg& cache) {
            const DType dt = ParseDType(dtype);
            py::gil_scoped_release release;
            self.StoreKV(dt, num_tokens, ToTokens(k), ToTokens(v), Ptr<const int64_t>(slot_mapping),
                         ToCache(cache));
          },
          py::arg("dtype"), py::arg("num_tokens"), py::arg("k"), py::arg("v"),
          py::arg("slot_mapping"), py::arg("cache"),
          "k, v: (data_ptr, token_stride, head_stride); slot_mapping: data_ptr of int64 [T];\n"
          "cache: (k_ptr, v_ptr, num_blocks, block_size, block_stride, slot_stride, head_stride).")
      .def(
          "forward",
          [](PagedAttention& self, const std::string& dtype, int32_t num_seqs, int32_t num_tokens,
             int32_t num_kv_indices, uintptr_t query_start_loc, uintptr_t seq_lens,
             uintptr_t kv_indptr, uintptr_t kv_indices, const TokenArg& q, const CacheArg& cache,
             const TokenArg& out) {
            const DType dt = ParseDType(dtype);
            const PagedBatch batch{num_seqs,
                                   num_tokens,
                                   num_kv_indices,
                                   Ptr<const int32_t>(query_start_loc),
                                   Ptr<const int32_t>(seq_lens),
                                   Ptr<const int32_t>(kv_indptr),
                                   Ptr<const int32_t>(kv_indices)};
            py::gil_scoped_release release;
            self.Forward(dt, batch, ToTokens(q), ToCache(cache), ToTokens(out));
          },
          py::arg("dtype"), py::arg("num_seqs"), py::arg("num_tokens"), py::arg("num_kv_indices"),
          py::arg("query_start_loc"), py::arg("seq_lens"), py::arg("kv_indptr"),
          py::arg("kv_indices"), py::arg("q"), py::arg("cache"), py::arg("out"),
          "The int32 plan arrays are data_ptrs (AttentionMetadata's names); q and out are\n"
          "(data_ptr, token_stride, head_stride) of [num_tokens, num_heads, head_dim].");
}

}  // namespace paste::bindings
