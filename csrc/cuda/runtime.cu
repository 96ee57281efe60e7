// Device discovery and CUDA error translation for the launch wrappers (PASTE_WITH_CUDA builds).
// The CUDA runtime is linked statically, so importing paste._core needs no libcudart; without
// a driver every runtime call fails with cudaErrorInsufficientDriver (or cudaErrorNoDevice),
// which becomes CudaUnavailable here instead of a crash.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "launch.cuh"
#include "paste/cuda_ops.h"

#ifndef PASTE_CUDA_ARCHS_STRING
#define PASTE_CUDA_ARCHS_STRING ""
#endif

namespace paste {

namespace cuda_detail {

namespace {
std::string Describe(cudaError_t error) {
  return std::string(cudaGetErrorName(error)) + ": " + cudaGetErrorString(error);
}
}  // namespace

void RequireDevice(const char* kernel) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear it: the next call on a machine that gains a driver may succeed
    throw CudaUnavailable(std::string("CUDA kernel ") + kernel +
                          " cannot run: no usable CUDA device (" + Describe(error) + ")");
  }
  if (count == 0) {
    throw CudaUnavailable(std::string("CUDA kernel ") + kernel + " cannot run: no CUDA device");
  }
}

void ThrowIfFailed(cudaError_t error, const char* kernel) {
  if (error == cudaSuccess) return;
  throw CudaUnavailable(std::string("CUDA kernel ") + kernel + " failed: " + Describe(error));
}

}  // namespace cuda_detail

bool CudaIsBuilt() { return true; }

int32_t CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string CudaArchitectures() { return PASTE_CUDA_ARCHS_STRING; }

}  // namespace paste
