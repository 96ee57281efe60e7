// StoreKV on the GPU: one block per query token, lanes over its num_kv_heads * head_dim
// elements (body: paste::cuda_kernels::StoreKVToken).
#include <cuda_runtime.h>

#include "launch.cuh"
#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"

namespace paste {

namespace {

constexpr int kStoreKVThreads = 128;

template <class T>
__global__ void StoreKVKernel(cuda_kernels::StoreKVArgs args) {
  cuda_kernels::StoreKVToken<T>(args, static_cast<int32_t>(blockIdx.x),
                                static_cast<int32_t>(threadIdx.x), static_cast<int32_t>(blockDim.x));
}

}  // namespace

void LaunchStoreKV(const cuda_kernels::StoreKVArgs& args, uintptr_t stream) {
  cuda_detail::RequireDevice("store_kv");
  CheckStoreKVArgs(args);
  if (args.num_tokens == 0) return;
  VisitElemType(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    StoreKVKernel<T><<<args.num_tokens, kStoreKVThreads, 0, cuda_detail::Stream(stream)>>>(args);
  });
  cuda_detail::ThrowIfFailed(cudaGetLastError(), "store_kv");
}

}  // namespace paste
