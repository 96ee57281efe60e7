// The CPU emulation of paste's CUDA kernels and the size checks both forms share.
//
// A launch of grid G with blocks of L lanes becomes L threads that walk the G blocks in the
// same order, meeting at a barrier wherever the kernel calls __syncthreads(). The lanes run the
// kernel bodies of paste/cuda_kernels.h unchanged, so the per-element and per-block logic the
// GPU runs (lane striding, reductions, online softmax, bisection) is what the tests check.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"
#include "paste/errors.h"

namespace paste {

namespace ck = cuda_kernels;

namespace {

constexpr int32_t kMaxLanes = 1024;
constexpr int32_t kMaxHeadDim = 1024;  // q_s and acc_s must fit in a block's shared memory
constexpr int32_t kMaxVocab = 1 << 24;  // counts stay exact in float

// Generation-counting barrier for num_lanes threads (reusable at once).
class HostBarrier {
 public:
  explicit HostBarrier(int32_t num_lanes) : num_lanes_(num_lanes) {}

  void Wait() {
    if (num_lanes_ == 1) return;
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t generation = generation_;
    if (++num_arrived_ == num_lanes_) {
      num_arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int32_t num_lanes_;
  int32_t num_arrived_ = 0;
  uint64_t generation_ = 0;
};

struct HostBarrierRef {
  HostBarrier* barrier;
  void operator()() const { barrier->Wait(); }
};

using HostLanes = ck::LaneGroup<HostBarrierRef>;

// Runs fn(lanes) on num_lanes threads (the caller is lane 0) sharing one block's scratch.
template <class Fn>
void RunLanes(int32_t num_lanes, Fn fn) {
  HostBarrier barrier(num_lanes);
  std::vector<float> scratch(num_lanes);
  std::vector<int32_t> scratch_index(num_lanes);
  auto lane_main = [&](int32_t lane) {
    HostLanes lanes(lane, num_lanes, scratch.data(), scratch_index.data(), HostBarrierRef{&barrier});
    fn(lanes);
  };
  std::vector<std::thread> threads;
  for (int32_t lane = 1; lane < num_lanes; ++lane) threads.emplace_back(lane_main, lane);
  lane_main(0);
  for (std::thread& t : threads) t.join();
}

void CheckLanes(int32_t num_lanes) {
  PASTE_CHECK_ARG(num_lanes >= 1 && num_lanes <= kMaxLanes, "num_lanes must be in [1, ",
                  kMaxLanes, "], got ", num_lanes);
}

void CheckDType(ck::ElemType dtype) {
  const int32_t d = static_cast<int32_t>(dtype);
  PASTE_CHECK_ARG(d >= 0 && d <= 2, "dtype must be float32, bfloat16 or float16, got code ", d);
}

void CheckCache(const ck::CachePlanes& c, int32_t num_kv_heads, int32_t head_dim) {
  PASTE_CHECK_ARG(c.num_blocks >= 1 && c.block_size >= 1,
                  "the cache needs num_blocks >= 1 and block_size >= 1, got ", c.num_blocks, ", ",
                  c.block_size);
  PASTE_CHECK_ARG(c.k != nullptr && c.v != nullptr, "the cache planes must not be null");
  PASTE_CHECK_ARG(c.block_stride >= c.block_size * c.slot_stride &&
                      c.slot_stride >= num_kv_heads * c.head_stride && c.head_stride >= head_dim,
                  "cache strides (", c.block_stride, ", ", c.slot_stride, ", ", c.head_stride,
                  ") overlap for block_size ", c.block_size, ", ", num_kv_heads,
                  " kv heads, head_dim ", head_dim);
}

void CheckHeads(int32_t num_heads, int32_t num_kv_heads, int32_t head_dim) {
  PASTE_CHECK_ARG(num_kv_heads >= 1 && num_heads >= num_kv_heads && num_heads % num_kv_heads == 0,
                  "num_heads (", num_heads, ") must be a positive multiple of num_kv_heads (",
                  num_kv_heads, ")");
  PASTE_CHECK_ARG(head_dim >= 1 && head_dim <= kMaxHeadDim, "head_dim must be in [1, ",
                  kMaxHeadDim, "], got ", head_dim);
}

}  // namespace

void CheckStoreKVArgs(const ck::StoreKVArgs& a) {
  CheckDType(a.dtype);
  PASTE_CHECK_ARG(a.num_tokens >= 0, "num_tokens must be >= 0, got ", a.num_tokens);
  CheckHeads(a.num_kv_heads, a.num_kv_heads, a.head_dim);
  CheckCache(a.cache, a.num_kv_heads, a.head_dim);
  if (a.num_tokens == 0) return;
  PASTE_CHECK_ARG(a.k.data != nullptr && a.v.data != nullptr && a.slot_mapping != nullptr,
                  "k, v and slot_mapping must not be null");
}

void CheckAttentionArgs(const ck::AttentionArgs& a) {
  CheckDType(a.dtype);
  PASTE_CHECK_ARG(a.num_tokens >= 0 && a.num_seqs >= 0, "num_tokens and num_seqs must be >= 0");
  PASTE_CHECK_ARG(a.num_tokens == 0 || a.num_seqs >= 1, "num_tokens > 0 needs a sequence");
  CheckHeads(a.num_heads, a.num_kv_heads, a.head_dim);
  CheckCache(a.cache, a.num_kv_heads, a.head_dim);
  PASTE_CHECK_ARG(int64_t{a.num_tokens} * a.num_heads < (int64_t{1} << 31),
                  "num_tokens * num_heads must be < 2^31");
  if (a.num_tokens == 0) return;
  PASTE_CHECK_ARG(a.query_start_loc && a.seq_lens && a.kv_indptr && a.kv_indices,
                  "the plan arrays must not be null");
  PASTE_CHECK_ARG(a.q.data != nullptr && a.out.data != nullptr, "q and out must not be null");
}

void CheckSamplingArgs(const ck::SamplingArgs& a) {
  PASTE_CHECK_ARG(a.num_rows >= 0, "num_rows must be >= 0, got ", a.num_rows);
  PASTE_CHECK_ARG(a.vocab_size >= 1 && a.vocab_size < kMaxVocab, "vocab_size must be in [1, ",
                  kMaxVocab, "), got ", a.vocab_size);
  PASTE_CHECK_ARG(a.num_rows <= 1 || a.row_stride >= a.vocab_size, "row_stride (", a.row_stride,
                  ") must be >= vocab_size (", a.vocab_size, ")");
  if (a.num_rows == 0) return;
  PASTE_CHECK_ARG(a.logits && a.temperature && a.top_k && a.top_p && a.seeds && a.offsets &&
                      a.tokens,
                  "logits, the per-row parameters and tokens must not be null");
}

void EmulateStoreKV(const ck::StoreKVArgs& a, int32_t num_lanes) {
  CheckStoreKVArgs(a);
  CheckLanes(num_lanes);
  VisitElemType(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int32_t token = 0; token < a.num_tokens; ++token) {  // lanes need no barrier here
      for (int32_t lane = 0; lane < num_lanes; ++lane) {
        ck::StoreKVToken<T>(a, token, lane, num_lanes);
      }
    }
  });
}

void EmulatePagedAttention(const ck::AttentionArgs& a, int32_t num_lanes) {
  CheckAttentionArgs(a);
  CheckLanes(num_lanes);
  if (a.num_tokens == 0) return;
  VisitElemType(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<float> q_s(a.head_dim), acc_s(a.head_dim), w_s(num_lanes);
    const int64_t num_rows = int64_t{a.num_tokens} * a.num_heads;
    RunLanes(num_lanes, [&](HostLanes& lanes) {
      for (int64_t row = 0; row < num_rows; ++row) {  // the grid, in blockIdx order
        ck::AttendQueryRow<T>(lanes, a, static_cast<int32_t>(row / a.num_heads),
                              static_cast<int32_t>(row % a.num_heads), q_s.data(), acc_s.data(),
                              w_s.data());
      }
    });
  });
}

void EmulateSampling(const ck::SamplingArgs& a, int32_t num_lanes) {
  CheckSamplingArgs(a);
  CheckLanes(num_lanes);
  RunLanes(num_lanes, [&](HostLanes& lanes) {
    for (int32_t r = 0; r < a.num_rows; ++r) {
      const ck::RowParams p{a.temperature[r], a.top_k[r], a.top_p[r],
                            static_cast<uint64_t>(a.seeds[r]), static_cast<uint64_t>(a.offsets[r])};
      const int32_t token = ck::SampleRow(lanes, a.logits + r * a.row_stride, a.vocab_size, p);
      if (lanes.lane() == 0) a.tokens[r] = token;
    }
  });
}

}  // namespace paste
