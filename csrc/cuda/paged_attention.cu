// Paged attention on the GPU: one block of kAttentionThreads lanes per (query token, query
// head) row, grid = num_tokens * num_heads (body: paste::cuda_kernels::AttendQueryRow). Every
// row attends to keys 0 .. its position, so decode, prefill and mixed batches all run; it is
// tuned for decode (one tile of keys per lane group, no tensor cores).
//
// Dynamic shared memory, in floats:  q_s [head_dim] | acc_s [head_dim] | w_s [L] |
//                                    scratch [L] | scratch_index [L] (int32)
#include <cuda_runtime.h>

#include "launch.cuh"
#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"

namespace paste {

namespace {

constexpr int kAttentionThreads = 128;

template <class T>
__global__ void __launch_bounds__(kAttentionThreads)
    PagedAttentionKernel(cuda_kernels::AttentionArgs args) {
  extern __shared__ float shared[];
  const int32_t num_lanes = static_cast<int32_t>(blockDim.x);
  float* q_s = shared;
  float* acc_s = q_s + args.head_dim;
  float* w_s = acc_s + args.head_dim;
  float* scratch = w_s + num_lanes;
  int32_t* scratch_index = reinterpret_cast<int32_t*>(scratch + num_lanes);
  cuda_detail::DeviceLanes lanes(static_cast<int32_t>(threadIdx.x), num_lanes, scratch,
                                 scratch_index, cuda_detail::DeviceBarrier{});
  const int32_t row = static_cast<int32_t>(blockIdx.x);
  cuda_kernels::AttendQueryRow<T>(lanes, args, row / args.num_heads, row % args.num_heads, q_s,
                                  acc_s, w_s);
}

}  // namespace

void LaunchPagedAttention(const cuda_kernels::AttentionArgs& args, uintptr_t stream) {
  cuda_detail::RequireDevice("paged_attention");
  CheckAttentionArgs(args);
  if (args.num_tokens == 0) return;
  const int num_blocks = args.num_tokens * args.num_heads;
  const size_t shared_bytes = (2 * static_cast<size_t>(args.head_dim) + 3 * kAttentionThreads) * 4;
  VisitElemType(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    PagedAttentionKernel<T><<<num_blocks, kAttentionThreads, shared_bytes,
                              cuda_detail::Stream(stream)>>>(args);
  });
  cuda_detail::ThrowIfFailed(cudaGetLastError(), "paged_attention");
}

}  // namespace paste
