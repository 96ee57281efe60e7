// Bodies of paste's CUDA kernels as __host__ __device__ functions, so the same code runs in the
// GPU kernels (csrc/cuda/*.cu) and, compiled by the host compiler, in the CPU emulation that the
// tests check against the torch reference (csrc/cuda_host/emulation.cc). Only the launch
// wrappers (grid, shared memory, stream, cudaError) are GPU-only.
//
// A thread block is a LaneGroup: num_lanes lanes that share scratch memory and meet at Sync()
// (__syncthreads() on the GPU, a std::thread barrier in the emulation). Work inside a block is
// lane-strided (lane, lane + num_lanes, ...); a reduction writes one value per lane, syncs,
// and every lane folds all of them in lane order, so every lane gets the same result and the
// control flow that depends on it stays uniform (no divergent barriers).
//
// Kernels (one block each):
//   StoreKV          block = query token t: cache[slot_mapping[t]] = k[t], v[t] (-1: skip)
//   PagedAttention   block = (query token t, query head h): the token's row attends to keys
//                    0 .. position(t) of its sequence through the CSR block table, one tile of
//                    num_lanes keys at a time with an online softmax (running max m, sum l):
//
//       keys:   | tile 0: lanes 0..L-1 | tile 1 | ... |     lane j scores key tile + j
//       m' = max(m, max_j x_j);  c = exp(m - m');  w_j = exp(x_j - m')
//       l = l c + sum_j w_j;     acc[d] = acc[d] c + sum_j w_j v_j[d]   (lane owns dims d)
//       out[d] = acc[d] / l
//
//   SampleRow        block = logits row: greedy (temperature 0 or top_k 1: first argmax) or
//                    x = logits / temperature, keep top-k, keep the top-p nucleus, draw by
//                    the exponential race argmax_i (x_i - log E_i), E_i ~ Exp(1).
//
// Top-k and top-p need no sort: a float maps to a uint32 key with the same order, and a
// bisection over keys finds the smallest threshold T with count(key > T) < k (mass(key > T) <
// top_p * Z for the nucleus); the kept set is key >= T, i.e. exactly the tokens whose
// predecessors in descending order number < k (weigh < top_p), as in
// paste.engine.sampler.apply_top_k_top_p. Tokens tied at the threshold are all kept.
//
// Noise is counter-based (SplitMix64 of seed, offset, token index), so a row's draw depends
// only on its seed, its offset (the caller's step counter) and its logits, never on the batch.
// The stream differs from torch.Generator's: same distribution, different draws.
//
// Plans live in device memory and cannot be checked on the host before a launch, so the
// bodies never read or write outside the cache: a slot outside [0, num_blocks * block_size)
// is skipped, a key whose block id is outside [0, num_blocks) is masked, and a row with no
// visible key writes zeros. AttentionMetadata.build(num_blocks=...) rejects such plans first.
#ifndef PASTE_CUDA_KERNELS_H_
#define PASTE_CUDA_KERNELS_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define PASTE_HOST_DEVICE __host__ __device__
#else
#define PASTE_HOST_DEVICE
#endif

namespace paste::cuda_kernels {

// ---------------------------------------------------------------------------------------------
// Element types: float32, bfloat16 and float16 stored as raw bits (no CUDA headers needed).

enum class ElemType : int32_t { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

struct BFloat16 {
  uint16_t bits;
};
struct Float16 {
  uint16_t bits;
};

PASTE_HOST_DEVICE inline float FloatFromBits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

PASTE_HOST_DEVICE inline uint32_t BitsFromFloat(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

PASTE_HOST_DEVICE inline float ToFloat(float x) { return x; }
PASTE_HOST_DEVICE inline float ToFloat(BFloat16 x) { return FloatFromBits(uint32_t{x.bits} << 16); }

PASTE_HOST_DEVICE inline float ToFloat(Float16 x) {
  const uint32_t sign = uint32_t{x.bits & 0x8000u} << 16;
  const uint32_t exponent = (x.bits >> 10) & 0x1fu;
  const uint32_t mantissa = x.bits & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return FloatFromBits(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  return FloatFromBits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

PASTE_HOST_DEVICE inline void StoreFloat(float f, float* dst) { *dst = f; }

// Round to nearest even; NaN stays NaN (quiet).
PASTE_HOST_DEVICE inline void StoreFloat(float f, BFloat16* dst) {
  uint32_t u = BitsFromFloat(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    dst->bits = static_cast<uint16_t>((u >> 16) | 0x40u);
    return;
  }
  u += 0x7fffu + ((u >> 16) & 1u);
  dst->bits = static_cast<uint16_t>(u >> 16);
}

// Round to nearest even; overflow to inf, tiny values to subnormals or zero.
PASTE_HOST_DEVICE inline void StoreFloat(float f, Float16* dst) {
  uint32_t u = BitsFromFloat(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) {
    dst->bits = sign | 0x7e00u;
  } else if (u >= 0x477ff000u) {  // >= 65520 rounds to inf
    dst->bits = sign | 0x7c00u;
  } else if (u < 0x38800000u) {  // below 2^-14: subnormal, value * 2^24 rounded is the mantissa
    dst->bits = sign | static_cast<uint16_t>(rintf(FloatFromBits(u) * 16777216.0f));
  } else {
    u += 0xfffu + ((u >> 13) & 1u);
    dst->bits = sign | static_cast<uint16_t>((u >> 13) - (112u << 10));
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel arguments: raw pointers and element strides (device pointers on the GPU, host
// pointers in the emulation). The last dimension (head_dim) is contiguous.

// [num_tokens, num_heads, head_dim] rows of q, k, v or out.
struct TokenRows {
  void* data = nullptr;
  int64_t token_stride = 0;
  int64_t head_stride = 0;
};

// Both planes of one layer's cache, each [num_blocks, block_size, num_kv_heads, head_dim].
struct CachePlanes {
  void* k = nullptr;
  void* v = nullptr;
  int32_t num_blocks = 0;
  int32_t block_size = 0;
  int64_t block_stride = 0;
  int64_t slot_stride = 0;
  int64_t head_stride = 0;
};

struct StoreKVArgs {
  ElemType dtype = ElemType::kFloat32;
  int32_t num_tokens = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  TokenRows k, v;                         // cache's dtype
  const int64_t* slot_mapping = nullptr;  // [num_tokens], -1 = skip
  CachePlanes cache;
};

struct AttentionArgs {
  ElemType dtype = ElemType::kFloat32;
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;
  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1]   AttentionMetadata's names
  const int32_t* seq_lens = nullptr;         // [num_seqs]
  const int32_t* kv_indptr = nullptr;        // [num_seqs + 1]
  const int32_t* kv_indices = nullptr;       // [kv_indptr[num_seqs]]
  TokenRows q, out;                          // [num_tokens, num_heads, head_dim]
  CachePlanes cache;
};

struct SamplingArgs {
  int32_t num_rows = 0;
  int32_t vocab_size = 0;
  const float* logits = nullptr;  // [num_rows, vocab_size] float32, rows row_stride apart
  int64_t row_stride = 0;
  const float* temperature = nullptr;  // [num_rows] each of these per row
  const int32_t* top_k = nullptr;      // <= 0: keep all
  const float* top_p = nullptr;        // >= 1: keep all
  const int64_t* seeds = nullptr;      // the row's noise stream ...
  const int64_t* offsets = nullptr;    // ... and its position in it (e.g. the step)
  int64_t* tokens = nullptr;           // [num_rows] out
};

// ---------------------------------------------------------------------------------------------
// A thread block's lanes. Barrier: a callable that blocks until every lane calls it.
// scratch holds num_lanes floats and scratch_index num_lanes ints, shared by the lanes.

template <class Barrier>
class LaneGroup {
 public:
  PASTE_HOST_DEVICE LaneGroup(int32_t lane, int32_t num_lanes, float* scratch,
                              int32_t* scratch_index, Barrier barrier)
      : lane_(lane),
        num_lanes_(num_lanes),
        scratch_(scratch),
        scratch_index_(scratch_index),
        barrier_(barrier) {}

  PASTE_HOST_DEVICE int32_t lane() const { return lane_; }
  PASTE_HOST_DEVICE int32_t num_lanes() const { return num_lanes_; }
  PASTE_HOST_DEVICE void Sync() { barrier_(); }

  PASTE_HOST_DEVICE float ReduceMax(float x) {
    scratch_[lane_] = x;
    Sync();
    float r = scratch_[0];
    for (int32_t i = 1; i < num_lanes_; ++i) r = fmaxf(r, scratch_[i]);
    Sync();  // scratch may be reused by the next reduction
    return r;
  }

  PASTE_HOST_DEVICE float ReduceSum(float x) {
    scratch_[lane_] = x;
    Sync();
    float r = 0.0f;
    for (int32_t i = 0; i < num_lanes_; ++i) r += scratch_[i];
    Sync();
    return r;
  }

  // (value, index) with the largest value, the smallest index among equal values.
  PASTE_HOST_DEVICE int32_t ReduceArgMax(float value, int32_t index) {
    scratch_[lane_] = value;
    scratch_index_[lane_] = index;
    Sync();
    float best = scratch_[0];
    int32_t best_index = scratch_index_[0];
    for (int32_t i = 1; i < num_lanes_; ++i) {
      if (scratch_[i] > best || (scratch_[i] == best && scratch_index_[i] < best_index)) {
        best = scratch_[i];
        best_index = scratch_index_[i];
      }
    }
    Sync();
    return best_index;
  }

 private:
  int32_t lane_;
  int32_t num_lanes_;
  float* scratch_;
  int32_t* scratch_index_;
  Barrier barrier_;
};

// ---------------------------------------------------------------------------------------------
// StoreKV.

// Element offset of `slot` in a cache plane, or -1 if the slot is -1 or outside the cache.
PASTE_HOST_DEVICE inline int64_t SlotOffset(int64_t slot, const CachePlanes& cache) {
  if (slot < 0 || slot >= int64_t{cache.num_blocks} * cache.block_size) return -1;
  return (slot / cache.block_size) * cache.block_stride + (slot % cache.block_size) * cache.slot_stride;
}

// Element i (= kv_head * head_dim + d) of token t's K and V rows.
template <class T>
PASTE_HOST_DEVICE void StoreKVElement(const StoreKVArgs& a, int32_t token, int32_t i) {
  const int64_t base = SlotOffset(a.slot_mapping[token], a.cache);
  if (base < 0) return;
  const int32_t head = i / a.head_dim, d = i % a.head_dim;
  const int64_t dst = base + head * a.cache.head_stride + d;
  const int64_t k_src = token * a.k.token_stride + head * a.k.head_stride + d;
  const int64_t v_src = token * a.v.token_stride + head * a.v.head_stride + d;
  static_cast<T*>(a.cache.k)[dst] = static_cast<const T*>(a.k.data)[k_src];
  static_cast<T*>(a.cache.v)[dst] = static_cast<const T*>(a.v.data)[v_src];
}

// Lane's share of token t: elements lane, lane + num_lanes, ... of num_kv_heads * head_dim.
template <class T>
PASTE_HOST_DEVICE void StoreKVToken(const StoreKVArgs& a, int32_t token, int32_t lane,
                                    int32_t num_lanes) {
  const int32_t n = a.num_kv_heads * a.head_dim;
  for (int32_t i = lane; i < n; i += num_lanes) StoreKVElement<T>(a, token, i);
}

// ---------------------------------------------------------------------------------------------
// PagedAttention.

// Sequence of query token `token`: the last s with query_start_loc[s] <= token (skips
// sequences without query tokens). num_seqs >= 1 and 0 <= token < query_start_loc[num_seqs].
PASTE_HOST_DEVICE inline int32_t FindSequence(const int32_t* query_start_loc, int32_t num_seqs,
                                              int32_t token) {
  int32_t lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo + 1) / 2;
    if (query_start_loc[mid] <= token) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// What one (query token, query head) row reads: kv_len keys of kv_head through `blocks`.
struct QueryRow {
  int32_t kv_len;
  int32_t kv_head;
  const int32_t* blocks;
  int32_t num_blocks;
};

PASTE_HOST_DEVICE inline QueryRow LocateQuery(const AttentionArgs& a, int32_t token, int32_t head) {
  const int32_t s = FindSequence(a.query_start_loc, a.num_seqs, token);
  const int32_t query_len = a.query_start_loc[s + 1] - a.query_start_loc[s];
  const int32_t position = a.seq_lens[s] - query_len + (token - a.query_start_loc[s]);
  QueryRow row;
  row.kv_len = position + 1;
  row.kv_head = head / (a.num_heads / a.num_kv_heads);
  row.blocks = a.kv_indices + a.kv_indptr[s];
  row.num_blocks = a.kv_indptr[s + 1] - a.kv_indptr[s];
  return row;
}

// Element offset of key `pos` of the row (kv head 0), or -1 if its block is not in the cache.
PASTE_HOST_DEVICE inline int64_t KeyOffset(const QueryRow& row, int32_t pos,
                                           const CachePlanes& cache) {
  const int32_t b = pos / cache.block_size;
  if (pos < 0 || b >= row.num_blocks) return -1;
  const int32_t block_id = row.blocks[b];
  if (block_id < 0 || block_id >= cache.num_blocks) return -1;
  return block_id * cache.block_stride + (pos % cache.block_size) * cache.slot_stride;
}

template <class T>
PASTE_HOST_DEVICE float Dot(const float* q, const T* k, int32_t head_dim) {
  float s = 0.0f;
  for (int32_t d = 0; d < head_dim; ++d) s += q[d] * ToFloat(k[d]);
  return s;
}

// One row's attention by the whole group. Shared memory: q_s and acc_s [head_dim], w_s
// [num_lanes]. Every lane must call it with the same (token, head).
template <class T, class Lanes>
PASTE_HOST_DEVICE void AttendQueryRow(Lanes& g, const AttentionArgs& a, int32_t token,
                                      int32_t head, float* q_s, float* acc_s, float* w_s) {
  const int32_t lane = g.lane(), num_lanes = g.num_lanes(), head_dim = a.head_dim;
  const QueryRow row = LocateQuery(a, token, head);
  const T* q = static_cast<const T*>(a.q.data) + token * a.q.token_stride + head * a.q.head_stride;
  for (int32_t d = lane; d < head_dim; d += num_lanes) {
    q_s[d] = ToFloat(q[d]) * a.scale;
    acc_s[d] = 0.0f;
  }
  g.Sync();
  const int64_t head_offset = row.kv_head * a.cache.head_stride;
  const T* k_plane = static_cast<const T*>(a.cache.k) + head_offset;
  const T* v_plane = static_cast<const T*>(a.cache.v) + head_offset;
  float m = -INFINITY, l = 0.0f;
  for (int32_t tile = 0; tile < row.kv_len; tile += num_lanes) {
    float score = -INFINITY;
    if (tile + lane < row.kv_len) {
      const int64_t offset = KeyOffset(row, tile + lane, a.cache);
      if (offset >= 0) score = Dot(q_s, k_plane + offset, head_dim);
    }
    const float m_new = fmaxf(m, g.ReduceMax(score));
    const float c = m == -INFINITY ? 0.0f : expf(m - m_new);
    const float w = score == -INFINITY ? 0.0f : expf(score - m_new);
    w_s[lane] = w;
    l = l * c + g.ReduceSum(w);  // its barrier also publishes w_s
    m = m_new;
    const int32_t n = row.kv_len - tile < num_lanes ? row.kv_len - tile : num_lanes;
    for (int32_t d = lane; d < head_dim; d += num_lanes) {
      float acc = acc_s[d] * c;
      for (int32_t j = 0; j < n; ++j) {
        if (w_s[j] != 0.0f) acc += w_s[j] * ToFloat(v_plane[KeyOffset(row, tile + j, a.cache) + d]);
      }
      acc_s[d] = acc;
    }
  }
  T* out = static_cast<T*>(a.out.data) + token * a.out.token_stride + head * a.out.head_stride;
  for (int32_t d = lane; d < head_dim; d += num_lanes) {
    StoreFloat(l > 0.0f ? acc_s[d] / l : 0.0f, &out[d]);
  }
  g.Sync();  // q_s, acc_s and w_s are free for the group's next row
}

// ---------------------------------------------------------------------------------------------
// Sampling.

// A uint32 with the same order as the float (-0 < +0; NaN above +inf or below -inf).
PASTE_HOST_DEVICE inline uint32_t OrderedKey(float x) {
  const uint32_t u = BitsFromFloat(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

PASTE_HOST_DEVICE inline uint64_t SplitMix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in (0, 1), never 0 or 1: (2j + 1) / 2^24 for a 23-bit hash j (exact in float).
PASTE_HOST_DEVICE inline float UniformNoise(uint64_t seed, uint64_t offset, uint32_t index) {
  const uint64_t h = SplitMix64(SplitMix64(SplitMix64(seed) ^ offset) ^ index);
  return static_cast<float>((h >> 41) * 2 + 1) * 5.9604644775390625e-8f;
}

// log of an Exp(1) draw, finite: E = -log(u).
PASTE_HOST_DEVICE inline float LogExponentialNoise(uint64_t seed, uint64_t offset,
                                                   uint32_t index) {
  return logf(-logf(UniformNoise(seed, offset, index)));
}

struct RowParams {
  float temperature;
  int32_t top_k;
  float top_p;
  uint64_t seed;
  uint64_t offset;
  PASTE_HOST_DEVICE bool is_greedy() const { return !(temperature > 0.0f) || top_k == 1; }
};

// Smallest key threshold T in [lo, 0xffffffff] with Weight(T) < target, where Weight(T) sums
// weight(x_i) over tokens with OrderedKey(x_i) > T, x_i = logits[i] / temperature
// (non-increasing in T; Weight(0xffffffff) = 0). 32 passes over the row at most.
template <class Lanes, class WeightFn>
PASTE_HOST_DEVICE uint32_t BisectThreshold(Lanes& g, const float* logits, int32_t vocab,
                                           float temperature, uint32_t lo, float target,
                                           WeightFn weight) {
  uint32_t hi = 0xffffffffu;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    float local = 0.0f;
    for (int32_t i = g.lane(); i < vocab; i += g.num_lanes()) {
      const float x = logits[i] / temperature;
      if (OrderedKey(x) > mid) local += weight(x);
    }
    if (g.ReduceSum(local) < target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

struct CountOne {
  PASTE_HOST_DEVICE float operator()(float) const { return 1.0f; }
};

struct ProbabilityMass {
  float max;
  PASTE_HOST_DEVICE float operator()(float x) const { return expf(x - max); }
};

// The token of one row of logits [vocab]; vocab < 2^24 so counts are exact in float.
// x_i = logits[i] / temperature is recomputed where needed (no workspace).
template <class Lanes>
PASTE_HOST_DEVICE int32_t SampleRow(Lanes& g, const float* logits, int32_t vocab,
                                    const RowParams& p) {
  const int32_t lane = g.lane(), num_lanes = g.num_lanes();
  float best = -INFINITY;
  int32_t best_index = vocab;
  if (p.is_greedy()) {
    for (int32_t i = lane; i < vocab; i += num_lanes) {
      if (logits[i] > best || best_index == vocab) best = logits[i], best_index = i;
    }
    return g.ReduceArgMax(best, best_index);
  }
  const float t = p.temperature;
  float local_max = -INFINITY;
  for (int32_t i = lane; i < vocab; i += num_lanes) local_max = fmaxf(local_max, logits[i] / t);
  const float max = g.ReduceMax(local_max);
  uint32_t keep_from = 0;  // kept: OrderedKey(x_i) >= keep_from
  if (p.top_k > 0 && p.top_k < vocab) {
    keep_from = BisectThreshold(g, logits, vocab, t, 0, static_cast<float>(p.top_k), CountOne{});
  }
  if (p.top_p < 1.0f) {
    float local_mass = 0.0f;
    for (int32_t i = lane; i < vocab; i += num_lanes) {
      const float x = logits[i] / t;
      if (OrderedKey(x) >= keep_from) local_mass += expf(x - max);
    }
    // The top token weighs exp(0) = 1, so target > 0 and it is always kept (top_p <= 0 too).
    const float mass = g.ReduceSum(local_mass);
    const float target = p.top_p > 0.0f ? p.top_p * mass : 1e-30f;
    keep_from = BisectThreshold(g, logits, vocab, t, keep_from, target, ProbabilityMass{max});
  }
  for (int32_t i = lane; i < vocab; i += num_lanes) {
    const float x = logits[i] / t;
    if (OrderedKey(x) < keep_from) continue;
    const float race = (x - max) - LogExponentialNoise(p.seed, p.offset, static_cast<uint32_t>(i));
    if (race > best || best_index == vocab) best = race, best_index = i;
  }
  return g.ReduceArgMax(best, best_index);
}

}  // namespace paste::cuda_kernels

#endif  // PASTE_CUDA_KERNELS_H_
