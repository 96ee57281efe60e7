// Host API of paste's CUDA kernels (bodies: paste/cuda_kernels.h), in two forms:
//
//   Launch*   run the kernel on the GPU on `stream` (a cudaStream_t as an integer, 0 = the
//             default stream); arguments are device pointers. Compiled from csrc/cuda/*.cu in
//             a PASTE_WITH_CUDA build; otherwise (csrc/cuda_host/no_cuda.cc) they throw.
//   Emulate*  run the same kernel bodies on the CPU, a thread block's lanes as num_lanes
//             threads meeting at a barrier; arguments are host pointers. Every build has them;
//             the tests check them against the torch reference.
//
// Launch* first throws CudaUnavailable if the kernels were not built or no CUDA device can be
// used (no driver, no GPU); then both forms check the sizes (InvalidArgument) before touching
// any pointer. Launch* also throws CudaUnavailable when the CUDA runtime rejects the launch. A
// launch is asynchronous: errors of the running kernel surface at the caller's next sync.
#ifndef PASTE_CUDA_OPS_H_
#define PASTE_CUDA_OPS_H_

#include <cstdint>
#include <stdexcept>
#include <string>

#include "paste/cuda_kernels.h"

namespace paste {

// A CUDA kernel cannot run here (Python: paste.errors.CudaUnavailableError).
class CudaUnavailable : public std::runtime_error {
 public:
  explicit CudaUnavailable(const std::string& what) : std::runtime_error(what) {}
};

// Was this build compiled with PASTE_WITH_CUDA?
bool CudaIsBuilt();
// Usable CUDA devices: 0 without CUDA, without a driver or without a GPU. Never throws.
int32_t CudaDeviceCount();
// The architectures the kernels were compiled for ("80;86;89;90"), empty without CUDA.
std::string CudaArchitectures();

void LaunchStoreKV(const cuda_kernels::StoreKVArgs& args, uintptr_t stream);
void LaunchPagedAttention(const cuda_kernels::AttentionArgs& args, uintptr_t stream);
void LaunchSampling(const cuda_kernels::SamplingArgs& args, uintptr_t stream);

void EmulateStoreKV(const cuda_kernels::StoreKVArgs& args, int32_t num_lanes);
void EmulatePagedAttention(const cuda_kernels::AttentionArgs& args, int32_t num_lanes);
void EmulateSampling(const cuda_kernels::SamplingArgs& args, int32_t num_lanes);

// Calls fn(T{}) with T the storage type of `dtype` (float, BFloat16, Float16).
template <class Fn>
void VisitElemType(cuda_kernels::ElemType dtype, Fn&& fn) {
  switch (dtype) {
    case cuda_kernels::ElemType::kFloat32:
      return fn(float{});
    case cuda_kernels::ElemType::kBFloat16:
      return fn(cuda_kernels::BFloat16{});
    case cuda_kernels::ElemType::kFloat16:
      return fn(cuda_kernels::Float16{});
  }
}

// The size checks shared by both forms (pointers are not dereferenced).
void CheckStoreKVArgs(const cuda_kernels::StoreKVArgs& args);
void CheckAttentionArgs(const cuda_kernels::AttentionArgs& args);
void CheckSamplingArgs(const cuda_kernels::SamplingArgs& args);

}  // namespace paste

#endif  // PASTE_CUDA_OPS_H_
