// The CUDA entry points of a build without PASTE_WITH_CUDA: every launch raises
// CudaUnavailable (a CUDA build without a usable device does the same, before any other check),
// so paste._core has one API whichever way it was built. A PASTE_WITH_CUDA build compiles csrc/cuda/*.cu instead.
#ifndef PASTE_WITH_CUDA

#include <cstdint>
#include <string>

#include "paste/cuda_ops.h"

namespace paste {

namespace {
[[noreturn]] void ThrowNotBuilt(const char* kernel) {
  throw CudaUnavailable(std::string("CUDA kernel ") + kernel +
                        " cannot run: paste was built without CUDA (build a CUDA wheel with "
                        "`make wheel-cuda`, see README \"CUDA build\")");
}
}  // namespace

bool CudaIsBuilt() { return false; }
int32_t CudaDeviceCount() { return 0; }
std::string CudaArchitectures() { return ""; }

void LaunchStoreKV(const cuda_kernels::StoreKVArgs& args, uintptr_t stream) {
  ThrowNotBuilt("store_kv");
}
void LaunchPagedAttention(const cuda_kernels::AttentionArgs& args, uintptr_t stream) {
  ThrowNotBuilt("paged_attention");
}
void LaunchSampling(const cuda_kernels::SamplingArgs& args, uintptr_t stream) {
  ThrowNotBuilt("sample");
}

}  // namespace paste

#endif  // PASTE_WITH_CUDA
