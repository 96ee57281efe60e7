// Shared pieces of the launch wrappers in csrc/cuda: the device barrier of a LaneGroup, the
// stream handle, and turning a missing device or a cudaError into paste::CudaUnavailable.
#ifndef PASTE_CUDA_LAUNCH_CUH_
#define PASTE_CUDA_LAUNCH_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "paste/cuda_kernels.h"

namespace paste::cuda_detail {

// __syncthreads() as a LaneGroup barrier (host-device so the template compiles on both sides;
// only the device side ever runs it).
struct DeviceBarrier {
  PASTE_HOST_DEVICE void operator()() const {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#endif
  }
};

using DeviceLanes = cuda_kernels::LaneGroup<DeviceBarrier>;

inline cudaStream_t Stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

// Throws CudaUnavailable unless a CUDA device can be used (driver present, >= 1 GPU).
void RequireDevice(const char* kernel);
// Throws CudaUnavailable naming the kernel and the CUDA error unless error == cudaSuccess.
void ThrowIfFailed(cudaError_t error, const char* kernel);

}  // namespace paste::cuda_detail

#endif  // PASTE_CUDA_LAUNCH_CUH_
