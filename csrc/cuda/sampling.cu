// Batched sampling on the GPU: one block of kSamplingThreads lanes per logits row (body:
// paste::cuda_kernels::SampleRow: greedy, temperature, top-k, top-p, counter-based noise).
//
// Dynamic shared memory: scratch [L] floats | scratch_index [L] int32.
#include <cuda_runtime.h>

#include "launch.cuh"
#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"

namespace paste {

namespace {

constexpr int kSamplingThreads = 256;

__global__ void __launch_bounds__(kSamplingThreads)
    SamplingKernel(cuda_kernels::SamplingArgs args) {
  extern __shared__ float shared[];
  const int32_t num_lanes = static_cast<int32_t>(blockDim.x);
  float* scratch = shared;
  int32_t* scratch_index = reinterpret_cast<int32_t*>(scratch + num_lanes);
  cuda_detail::DeviceLanes lanes(static_cast<int32_t>(threadIdx.x), num_lanes, scratch,
                                 scratch_index, cuda_detail::DeviceBarrier{});
  const int32_t r = static_cast<int32_t>(blockIdx.x);
  const cuda_kernels::RowParams params{args.temperature[r], args.top_k[r], args.top_p[r],
                                       static_cast<uint64_t>(args.seeds[r]),
                                       static_cast<uint64_t>(args.offsets[r])};
  const int32_t token =
      cuda_kernels::SampleRow(lanes, args.logits + r * args.row_stride, args.vocab_size, params);
  if (threadIdx.x == 0) args.tokens[r] = token;
}

}  // namespace

void LaunchSampling(const cuda_kernels::SamplingArgs& args, uintptr_t stream) {
  cuda_detail::RequireDevice("sample");
  CheckSamplingArgs(args);
  if (args.num_rows == 0) return;
  const size_t shared_bytes = 2 * kSamplingThreads * 4;
  SamplingKernel<<<args.num_rows, kSamplingThreads, shared_bytes, cuda_detail::Stream(stream)>>>(
      args);
  cuda_detail::ThrowIfFailed(cudaGetLastError(), "sample");
}

}  // namespace paste
