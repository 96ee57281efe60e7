// Python bindings of paste's CUDA kernels: the submodule paste._core.cuda, the same in every
// build. In a PASTE_WITH_CUDA build store_kv / paged_attention / sample launch the kernels on
// a stream; without CUDA (or without a usable GPU) they raise paste.errors.CudaUnavailableError.
// emulate_* run the same kernel bodies on the CPU (host pointers) for the tests.
//
// Tensors cross as integer addresses (torch.Tensor.data_ptr()) plus sizes and element strides,
// never as torch types; paste.kernels.cuda_backend checks devices, dtypes and shapes first.
// Streams cross as integers (torch.cuda.Stream.cuda_stream). The GIL is released while a
// kernel is launched or emulated.
#include <pybind11/pybind11.h>  // std::tuple arguments need no stl.h

#include <cstdint>
#include <string>
#include <tuple>

#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"
#include "paste/errors.h"
#include "registry.h"

namespace paste::bindings {

namespace py = pybind11;
namespace ck = cuda_kernels;

namespace {

using RowsArg = std::tuple<uintptr_t, int64_t, int64_t>;  // (data_ptr, token_stride, head_stride)
// (k data_ptr, v data_ptr, num_blocks, block_size, block_stride, slot_stride, head_stride)
using CacheArg = std::tuple<uintptr_t, uintptr_t, int32_t, int32_t, int64_t, int64_t, int64_t>;

ck::ElemType ParseElemType(const std::string& name) {
  if (name == "float32") return ck::ElemType::kFloat32;
  if (name == "bfloat16") return ck::ElemType::kBFloat16;
  if (name == "float16") return ck::ElemType::kFloat16;
  throw InvalidArgument("dtype must be \"float32\", \"bfloat16\" or \"float16\", got \"" + name +
                        "\"");
}

template <class T>
T* Ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

ck::TokenRows ToRows(const RowsArg& a) {
  return ck::TokenRows{Ptr<void>(std::get<0>(a)), std::get<1>(a), std::get<2>(a)};
}

ck::CachePlanes ToCache(const CacheArg& a) {
  auto [k, v, num_blocks, block_size, block_stride, slot_stride, head_stride] = a;
  return ck::CachePlanes{Ptr<void>(k),  Ptr<void>(v), num_blocks, block_size,
                         block_stride, slot_stride,  head_stride};
}

ck::StoreKVArgs MakeStoreKV(const std::string& dtype, int32_t num_tokens, int32_t num_kv_heads,
                            int32_t head_dim, const RowsArg& k, const RowsArg& v,
                            uintptr_t slot_mapping, const CacheArg& cache) {
  ck::StoreKVArgs a;
  a.dtype = ParseElemType(dtype);
  a.num_tokens = num_tokens;
  a.num_kv_heads = num_kv_heads;
  a.head_dim = head_dim;
  a.k = ToRows(k);
  a.v = ToRows(v);
  a.slot_mapping = Ptr<const int64_t>(slot_mapping);
  a.cache = ToCache(cache);
  return a;
}

// plan: (num_seqs, query_start_loc, seq_lens, kv_indptr, kv_indices) with int32 data_ptrs.
using PlanArg = std::tuple<int32_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t>;
// heads: (num_heads, num_kv_heads, head_dim, scale)
using HeadsArg = std::tuple<int32_t, int32_t, int32_t, float>;

ck::AttentionArgs MakeAttention(const std::string& dtype, int32_t num_tokens, const HeadsArg& heads,
                                const PlanArg& plan, const RowsArg& q, const CacheArg& cache,
                                const RowsArg& out) {
  ck::AttentionArgs a;
  a.dtype = ParseElemType(dtype);
  a.num_tokens = num_tokens;
  std::tie(a.num_heads, a.num_kv_heads, a.head_dim, a.scale) = heads;
  a.num_seqs = std::get<0>(plan);
  a.query_start_loc = Ptr<const int32_t>(std::get<1>(plan));
  a.seq_lens = Ptr<const int32_t>(std::get<2>(plan));
  a.kv_indptr = Ptr<const int32_t>(std::get<3>(plan));
  a.kv_indices = Ptr<const int32_t>(std::get<4>(plan));
  a.q = ToRows(q);
  a.cache = ToCache(cache);
  a.out = ToRows(out);
  return a;
}

// params: data_ptrs of (temperature f32, top_k i32, top_p f32, seeds i64, offsets i64) [rows].
using ParamsArg = std::tuple<uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t>;

ck::SamplingArgs MakeSampling(int32_t num_rows, int32_t vocab_size, uintptr_t logits,
                              int64_t row_stride, const ParamsArg& params, uintptr_t tokens) {
  ck::SamplingArgs a;
  a.num_rows = num_rows;
  a.vocab_size = vocab_size;
  a.logits = Ptr<const float>(logits);
  a.row_stride = row_stride;
  a.temperature = Ptr<const float>(std::get<0>(params));
  a.top_k = Ptr<const int32_t>(std::get<1>(params));
  a.top_p = Ptr<const float>(std::get<2>(params));
  a.seeds = Ptr<const int64_t>(std::get<3>(params));
  a.offsets = Ptr<const int64_t>(std::get<4>(params));
  a.tokens = Ptr<int64_t>(tokens);
  return a;
}

constexpr const char* kStoreKVDoc =
    "k, v: (data_ptr, token_stride, head_stride) of [num_tokens, num_kv_heads, head_dim] in the\n"
    "cache's dtype; slot_mapping: data_ptr of int64 [num_tokens] (-1 = skip);\n"
    "cache: (k_ptr, v_ptr, num_blocks, block_size, block_stride, slot_stride, head_stride).";
constexpr const char* kAttentionDoc =
    "heads: (num_heads, num_kv_heads, head_dim, scale); plan: (num_seqs, query_start_loc,\n"
    "seq_lens, kv_indptr, kv_indices) as int32 data_ptrs (AttentionMetadata's names); q, out:\n"
    "(data_ptr, token_stride, head_stride) of [num_tokens, num_heads, head_dim].";
constexpr const char* kSampleDoc =
    "logits: data_ptr of float32 [num_rows, vocab_size], rows row_stride elements apart;\n"
    "params: data_ptrs of (temperature f32, top_k i32, top_p f32, seeds i64, offsets i64),\n"
    "one per row; tokens: data_ptr of int64 [num_rows], written.";

}  // namespace

void RegisterCuda(py::module_& m) {
  py::module_ cuda = m.def_submodule("cuda", R"doc(
paste's CUDA kernels: slot-mapped KV store, paged attention, batched sampling. Present in every
build; `built` says whether this one compiled them (PASTE_WITH_CUDA). Launches take device
addresses and a stream and raise paste.errors.CudaUnavailableError when the kernels were not
built or no GPU can be used. emulate_* run the same kernel bodies on the CPU (host addresses),
a block's lanes as threads.)doc");
  cuda.attr("built") = CudaIsBuilt();
  cuda.attr("architectures") = CudaArchitectures();
  cuda.def("device_count", &CudaDeviceCount,
           "Usable CUDA devices: 0 without CUDA, a driver or a GPU. Never raises.");

  cuda.def(
      "store_kv",
      [](const std::string& dtype, int32_t num_tokens, int32_t num_kv_heads, int32_t head_dim,
         const RowsArg& k, const RowsArg& v, uintptr_t slot_mapping, const CacheArg& cache,
         uintptr_t stream) {
        const ck::StoreKVArgs a =
            MakeStoreKV(dtype, num_tokens, num_kv_heads, head_dim, k, v, slot_mapping, cache);
        py::gil_scoped_release release;
        LaunchStoreKV(a, stream);
      },
      py::arg("dtype"), py::arg("num_tokens"), py::arg("num_kv_heads"), py::arg("head_dim"),
      py::arg("k"), py::arg("v"), py::arg("slot_mapping"), py::arg("cache"), py::arg("stream") = 0,
      kStoreKVDoc);
  cuda.def(
      "emulate_store_kv",
      [](const std::string& dtype, int32_t num_tokens, int32_t num_kv_heads, int32_t head_dim,
         const RowsArg& k, const RowsArg& v, uintptr_t slot_mapping, const CacheArg& cache,
         int32_t num_lanes) {
        const ck::StoreKVArgs a =
            MakeStoreKV(dtype, num_tokens, num_kv_heads, head_dim, k, v, slot_mapping, cache);
        py::gil_scoped_release release;
        EmulateStoreKV(a, num_lanes);
      },
      py::arg("dtype"), py::arg("num_tokens"), py::arg("num_kv_heads"), py::arg("head_dim"),
      py::arg("k"), py::arg("v"), py::arg("slot_mapping"), py::arg("cache"),
      py::arg("num_lanes") = 4, kStoreKVDoc);

  cuda.def(
      "paged_attention",
      [](const std::string& dtype, int32_t num_tokens, const HeadsArg& heads, const PlanArg& plan,
         const RowsArg& q, const CacheArg& cache, const RowsArg& out, uintptr_t stream) {
        const ck::AttentionArgs a = MakeAttention(dtype, num_tokens, heads, plan, q, cache, out);
        py::gil_scoped_release release;
        LaunchPagedAttention(a, stream);
      },
      py::arg("dtype"), py::arg("num_tokens"), py::arg("heads"), py::arg("plan"), py::arg("q"),
      py::arg("cache"), py::arg("out"), py::arg("stream") = 0, kAttentionDoc);
  cuda.def(
      "emulate_paged_attention",
      [](const std::string& dtype, int32_t num_tokens, const HeadsArg& heads, const PlanArg& plan,
         const RowsArg& q, const CacheArg& cache, const RowsArg& out, int32_t num_lanes) {
        const ck::AttentionArgs a = MakeAttention(dtype, num_tokens, heads, plan, q, cache, out);
        py::gil_scoped_release release;
        EmulatePagedAttention(a, num_lanes);
      },
      py::arg("dtype"), py::arg("num_tokens"), py::arg("heads"), py::arg("plan"), py::arg("q"),
      py::arg("cache"), py::arg("out"), py::arg("num_lanes") = 4, kAttentionDoc);

  cuda.def(
      "sample",
      [](int32_t num_rows, int32_t vocab_size, uintptr_t logits, int64_t row_stride,
         const ParamsArg& params, uintptr_t tokens, uintptr_t stream) {
        const ck::SamplingArgs a =
            MakeSampling(num_rows, vocab_size, logits, row_stride, params, tokens);
        py::gil_scoped_release release;
        LaunchSampling(a, stream);
      },
      py::arg("num_rows"), py::arg("vocab_size"), py::arg("logits"), py::arg("row_stride"),
      py::arg("params"), py::arg("tokens"), py::arg("stream") = 0, kSampleDoc);
  cuda.def(
      "emulate_sample",
      [](int32_t num_rows, int32_t vocab_size, uintptr_t logits, int64_t row_stride,
         const ParamsArg& params, uintptr_t tokens, int32_t num_lanes) {
        const ck::SamplingArgs a =
            MakeSampling(num_rows, vocab_size, logits, row_stride, params, tokens);
        py::gil_scoped_release release;
        EmulateSampling(a, num_lanes);
      },
      py::arg("num_rows"), py::arg("vocab_size"), py::arg("logits"), py::arg("row_stride"),
      py::arg("params"), py::arg("tokens"), py::arg("num_lanes") = 4, kSampleDoc);
}

}  // namespace paste::bindings
