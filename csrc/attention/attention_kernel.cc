// The paged-attention kernel behind PagedAttention::Forward (algorithm in paged_attention.h).
//
// Three ways to update a row's online softmax with one block of keys, by the item's shape:
//   few rows (decode, rows < kMinRowsToTransposeK): one dot product per key, V rows read in place;
//   many rows (prefill): the K block is transposed once into a [head_dim, keys] tile, so the
//     scores of 16 keys are 16 lanes of one vector and need no horizontal sums;
//   many rows that see the whole block: four rows at a time (FourRowsFullBlock), each K and V
//     vector loaded once for four rows.
//
// Vectorisation. The inner loops run over head_dim (acc += p * v) and over the keys of a block
// (scores, max, exp). They are written with GCC/Clang vector extensions of kLanes floats, which
// compile to whatever the target has (4 x SSE, 2 x AVX2 or 1 x AVX-512 per vector) and need no
// -ffast-math for the reductions; other compilers (or -DPASTE_ATTN_SCALAR) get plain scalar
// loops. Since the build has no -march flag, the item kernel is compiled three times on x86-64
// (baseline, AVX2+FMA, AVX-512) and the variant the CPU supports is chosen once, at first use.
//
// exp: x - m <= 0 always, so a polynomial on a reduced argument suffices: x = n ln2 + f with
// |f| <= ln2 / 2, exp(f) by its degree-7 Taylor polynomial (error < 1e-8 relative), 2^n put
// into the exponent bits. Inputs below -87 are clamped (their weight, < 1e-37, is noise).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "paste/errors.h"
#include "paste/paged_attention.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // 64-byte vectors returned by always-inlined helpers

namespace paste {
namespace {

#if defined(__GNUC__) || defined(__clang__)
#define PASTE_ATTN_INLINE inline __attribute__((always_inline))
#else
#define PASTE_ATTN_INLINE inline
#endif

#if (defined(__GNUC__) || defined(__clang__)) && !defined(PASTE_ATTN_SCALAR)
#define PASTE_ATTN_VECTOR 1
constexpr int kLanes = 16;
typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));
#endif

// -DPASTE_ATTN_NO_DISPATCH keeps only the variant of the compile flags (to test it alone).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(PASTE_ATTN_NO_DISPATCH)
#define PASTE_ATTN_X86_VARIANTS 1
#endif

constexpr int32_t kMaxRowsPerItem = 64;      // (token, head) rows sharing one walk over the KV
constexpr int32_t kMinRowsToTransposeK = 8;  // fewer rows: one dot product per key instead
constexpr int64_t kMinParallelWork = 1 << 16;  // multiply-adds below which we stay serial

struct BFloat16 {
  uint16_t bits;
};

PASTE_ATTN_INLINE float ToFloat(float x) { return x; }
PASTE_ATTN_INLINE float ToFloat(BFloat16 x) { return BFloat16ToFloat(x.bits); }
template <typename T>
PASTE_ATTN_INLINE T FromFloat(float x) {
  if constexpr (std::is_same_v<T, float>) {
    return x;
  } else {
    return BFloat16{FloatToBFloat16(x)};
  }
}

#ifdef PASTE_ATTN_VECTOR
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));
typedef float Vec4 __attribute__((vector_size(4 * sizeof(float))));

PASTE_ATTN_INLINE VecF Load(const float* p) {
  VecF v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}
PASTE_ATTN_INLINE void Store(float* p, const VecF& v) { __builtin_memcpy(p, &v, sizeof(v)); }

// Sum of the lanes by halving (16 -> 8 -> 4 -> 1), not a serial chain of 15 adds.
PASTE_ATTN_INLINE float ReduceAdd(const VecF& v) {
  Vec8 lo8, hi8;
  __builtin_memcpy(&lo8, &v, sizeof(lo8));
  __builtin_memcpy(&hi8, reinterpret_cast<const char*>(&v) + sizeof(lo8), sizeof(hi8));
  const Vec8 s8 = lo8 + hi8;
  Vec4 lo4, hi4;
  __builtin_memcpy(&lo4, &s8, sizeof(lo4));
  __builtin_memcpy(&hi4, reinterpret_cast<const char*>(&s8) + sizeof(lo4), sizeof(hi4));
  const Vec4 s4 = lo4 + hi4;
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

PASTE_ATTN_INLINE float ReduceMax(const VecF& v) {
  Vec8 lo8, hi8;
  __builtin_memcpy(&lo8, &v, sizeof(lo8));
  __builtin_memcpy(&hi8, reinterpret_cast<const char*>(&v) + sizeof(lo8), sizeof(hi8));
  const Vec8 s8 = lo8 > hi8 ? lo8 : hi8;
  Vec4 lo4, hi4;
  __builtin_memcpy(&lo4, &s8, sizeof(lo4));
  __builtin_memcpy(&hi4, reinterpret_cast<const char*>(&s8) + sizeof(lo4), sizeof(hi4));
  const Vec4 s4 = lo4 > hi4 ? lo4 : hi4;
  return std::max(std::max(s4[0], s4[1]), std::max(s4[2], s4[3]));
}

// Lanes j + i < n of a vector starting at element j.
PASTE_ATTN_INLINE VecI LanesBelow(int32_t j, int32_t n) {
  const VecI iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  static_assert(kLanes == 16, "iota above has kLanes entries");
  return (iota + j) < n;
}

PASTE_ATTN_INLINE VecF Exp(const VecF& x_in) {
  const VecF lo = VecF{} - 87.0f;
  const VecF x = x_in < lo ? lo : x_in;
  const VecF magic = VecF{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  VecF n = (x * 1.44269504088896341f + magic) - magic;
  VecF f = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;  // ln2 in two parts
  VecF p = VecF{} + (1.0f / 5040);
  p = p * f + (1.0f / 720);
  p = p * f + (1.0f / 120);
  p = p * f + (1.0f / 24);
  p = p * f + (1.0f / 6);
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23;
  VecF scale;
  __builtin_memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}
#endif

// a . b over n floats (one key at a time: used when an item has few rows, e.g. decode).
PASTE_ATTN_INLINE float Dot(const float* a, const float* b, int32_t n) {
  int32_t d = 0;
  float s = 0.0f;
#ifdef PASTE_ATTN_VECTOR
  if (n >= kLanes) {
    VecF acc0 = Load(a) * Load(b);
    VecF acc1 = VecF{};
    for (d = kLanes; d + 2 * kLanes <= n; d += 2 * kLanes) {
      acc0 += Load(a + d) * Load(b + d);
      acc1 += Load(a + d + kLanes) * Load(b + d + kLanes);
    }
    for (; d + kLanes <= n; d += kLanes) acc0 += Load(a + d) * Load(b + d);
    s = ReduceAdd(acc0 + acc1);
  }
#endif
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

// s[j] = q . k_j for j < n (rounded up to whole vectors), with the keys transposed:
// kt[d * ld + j] = k_j[d]. No horizontal sums; used when an item has many rows (prefill).
PASTE_ATTN_INLINE void DotTransposed(const float* q, const float* kt, int32_t ld, int32_t n,
                                     int32_t dim, float* s) {
  int32_t j = 0;
#ifdef PASTE_ATTN_VECTOR
  for (; j < n; j += kLanes) {
    VecF a[8] = {};  // 8 independent chains hide the FMA latency
    int32_t d = 0;
    for (; d + 8 <= dim; d += 8) {
      for (int i = 0; i < 8; ++i) a[i] += q[d + i] * Load(kt + (d + i) * ld + j);
    }
    for (; d < dim; ++d) a[0] += q[d] * Load(kt + d * ld + j);
    Store(s + j, ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])));
  }
#endif
  for (; j < n; ++j) {
    float acc = 0.0f;
    for (int32_t d = 0; d < dim; ++d) acc += q[d] * kt[d * ld + j];
    s[j] = acc;
  }
}

// acc = acc * c + sum_{j < n} p[j] v_j (v_j = v + j * stride), two register chunks at a time.
PASTE_ATTN_INLINE void AccumulateV(float* acc, float c, const float* p, int32_t n,
                                   const float* v, int64_t stride, int32_t dim) {
  int32_t d = 0;
#ifdef PASTE_ATTN_VECTOR
  for (; d + 2 * kLanes <= dim; d += 2 * kLanes) {
    VecF a0 = Load(acc + d) * c, a1 = VecF{};
    VecF b0 = Load(acc + d + kLanes) * c, b1 = VecF{};
    int32_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const float* v0 = v + j * stride + d;
      const float* v1 = v0 + stride;
      a0 += p[j] * Load(v0);
      b0 += p[j] * Load(v0 + kLanes);
      a1 += p[j + 1] * Load(v1);
      b1 += p[j + 1] * Load(v1 + kLanes);
    }
    if (j < n) {
      a0 += p[j] * Load(v + j * stride + d);
      b0 += p[j] * Load(v + j * stride + d + kLanes);
    }
    Store(acc + d, a0 + a1);
    Store(acc + d + kLanes, b0 + b1);
  }
  for (; d + kLanes <= dim; d += kLanes) {
    VecF a0 = Load(acc + d) * c, a1 = VecF{};
    int32_t j = 0;
    for (; j + 2 <= n; j += 2) {
      a0 += p[j] * Load(v + j * stride + d);
      a1 += p[j + 1] * Load(v + (j + 1) * stride + d);
    }
    if (j < n) a0 += p[j] * Load(v + j * stride + d);
    Store(acc + d, a0 + a1);
  }
#endif
  for (; d < dim; ++d) {
    float a = acc[d] * c;
    for (int32_t j = 0; j < n; ++j) a += p[j] * v[j * stride + d];
    acc[d] = a;
  }
}

// s[j] *= scale for j < n; returns the largest. May touch s up to n rounded up to a vector.
PASTE_ATTN_INLINE float ScaleMax(float* s, int32_t n, float scale) {
#ifdef PASTE_ATTN_VECTOR
  const VecF neg_inf = VecF{} - std::numeric_limits<float>::infinity();
  VecF m = neg_inf;
  for (int32_t j = 0; j < n; j += kLanes) {
    const VecF x = Load(s + j) * scale;
    Store(s + j, x);
    const VecF live = LanesBelow(j, n) ? x : neg_inf;
    m = m > live ? m : live;
  }
  return ReduceMax(m);
#else
  float m = -std::numeric_limits<float>::infinity();
  for (int32_t j = 0; j < n; ++j) m = std::max(m, s[j] *= scale);
  return m;
#endif
}

// x[j] = exp(x[j] - m) for j < n; returns their sum. May touch x up to n rounded up to a
// vector (those lanes are set to 0).
PASTE_ATTN_INLINE float ExpShiftSum(float* x, int32_t n, float m) {
#ifdef PASTE_ATTN_VECTOR
  VecF acc = VecF{};
  for (int32_t j = 0; j < n; j += kLanes) {
    const VecF e = LanesBelow(j, n) ? Exp(Load(x + j) - m) : VecF{};
    Store(x + j, e);
    acc += e;
  }
  return ReduceAdd(acc);
#else
  float sum = 0.0f;
  for (int32_t j = 0; j < n; ++j) sum += (x[j] = std::exp(x[j] - m));
  return sum;
#endif
}

// The block update of four rows that all see the block's n keys (the bulk of a prefill):
// the same online-softmax step as for one row, but every K and V vector is loaded once for the
// four rows and the four rows give independent FMA chains. Rows are `dim` apart in q and acc;
// s holds 4 score rows of ld floats.
PASTE_ATTN_INLINE void FourRowsFullBlock(const float* q, const float* kt, int32_t ld,
                                         const float* v, int64_t stride, int32_t n, int32_t dim,
                                         float scale, float* s, float* m, float* l, float* acc) {
#ifdef PASTE_ATTN_VECTOR
  for (int32_t j = 0; j < n; j += kLanes) {
    VecF a[4][2] = {};
    int32_t d = 0;
    for (; d + 2 <= dim; d += 2) {
      const VecF k0 = Load(kt + d * ld + j), k1 = Load(kt + (d + 1) * ld + j);
      for (int r = 0; r < 4; ++r) {
        a[r][0] += q[r * dim + d] * k0;
        a[r][1] += q[r * dim + d + 1] * k1;
      }
    }
    if (d < dim) {
      const VecF k0 = Load(kt + d * ld + j);
      for (int r = 0; r < 4; ++r) a[r][0] += q[r * dim + d] * k0;
    }
    for (int r = 0; r < 4; ++r) Store(s + r * ld + j, a[r][0] + a[r][1]);
  }
#else
  for (int r = 0; r < 4; ++r) DotTransposed(q + r * dim, kt, ld, n, dim, s + r * ld);
#endif
  float c[4];
  for (int r = 0; r < 4; ++r) {
    const float m_new = std::max(m[r], ScaleMax(s + r * ld, n, scale));
    c[r] = m_new == m[r] ? 1.0f : std::exp(m[r] - m_new);
    l[r] = l[r] * c[r] + ExpShiftSum(s + r * ld, n, m_new);
    m[r] = m_new;
  }
  int32_t d = 0;
#ifdef PASTE_ATTN_VECTOR
  for (; d + kLanes <= dim; d += kLanes) {
    VecF a[4];
    for (int r = 0; r < 4; ++r) a[r] = Load(acc + r * dim + d) * c[r];
    for (int32_t j = 0; j < n; ++j) {
      const VecF vj = Load(v + j * stride + d);
      for (int r = 0; r < 4; ++r) a[r] += s[r * ld + j] * vj;
    }
    for (int r = 0; r < 4; ++r) Store(acc + r * dim + d, a[r]);
  }
#endif
  for (; d < dim; ++d) {
    for (int r = 0; r < 4; ++r) {
      float x = acc[r * dim + d] * c[r];
      for (int32_t j = 0; j < n; ++j) x += s[r * ld + j] * v[j * stride + d];
      acc[r * dim + d] = x;
    }
  }
}

struct WorkItem {
  int32_t seq;
  int32_t kv_head;
  int32_t token_begin;  // flat token range [token_begin, token_end) of one sequence
  int32_t token_end;
  int64_t cost;  // rows * keys, for ordering
};

struct Job {
  const PagedBatch* batch;
  const TokenTensor* q;
  const PagedKVCache* cache;
  const TokenTensor* out;
  int32_t group;  // query heads per kv head
  int32_t head_dim;
  float scale;
};

// Per-thread buffers, grown on demand and reused across calls.
struct Scratch {
  std::vector<float> q, acc, m, l, scores, k_tile, v_tile;
};

// Round n up to whole vectors (the transposed K tile's leading dimension).
inline int32_t PadToLanes(int32_t n) {
#ifdef PASTE_ATTN_VECTOR
  return (n + kLanes - 1) / kLanes * kLanes;
#else
  return n;
#endif
}

template <typename T>
PASTE_ATTN_INLINE void RunItem(const Job& job, const WorkItem& w) {
  thread_local Scratch sc;
  const PagedBatch& b = *job.batch;
  const PagedKVCache& cache = *job.cache;
  const int32_t D = job.head_dim, G = job.group, bs = cache.block_size;
  const int32_t q_start = b.query_start_loc[w.seq];
  const int32_t num_computed = b.seq_lens[w.seq] - (b.query_start_loc[w.seq + 1] - q_start);
  const int32_t rows = (w.token_end - w.token_begin) * G;  // row r = (token, head in group)
  // Many rows: transpose each K block once so that scores need no horizontal sums.
  const bool transpose_k = rows >= kMinRowsToTransposeK;
  const int32_t ld = PadToLanes(bs);
  sc.q.resize(static_cast<size_t>(rows) * D);
  sc.acc.assign(static_cast<size_t>(rows) * D, 0.0f);
  sc.m.assign(rows, -std::numeric_limits<float>::infinity());
  sc.l.assign(rows, 0.0f);
  sc.scores.resize(static_cast<size_t>(4) * ld);
  sc.k_tile.resize(static_cast<size_t>(ld) * D);
  if constexpr (!std::is_same_v<T, float>) sc.v_tile.resize(static_cast<size_t>(bs) * D);
  const T* q = static_cast<const T*>(job.q->data);
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t t = w.token_begin + r / G, h = w.kv_head * G + r % G;
    const T* src = q + t * job.q->token_stride + h * job.q->head_stride;
    for (int32_t d = 0; d < D; ++d) sc.q[static_cast<size_t>(r) * D + d] = ToFloat(src[d]);
  }
  const int32_t num_keys = num_computed + (w.token_end - q_start);  // keys of the last token
  const int32_t* blocks = b.kv_indices + b.kv_indptr[w.seq];
  const T* k_cache = static_cast<const T*>(cache.k);
  const T* v_cache = static_cast<const T*>(cache.v);
  for (int32_t key_begin = 0; key_begin < num_keys; key_begin += bs) {
    const int32_t n_blk = std::min(bs, num_keys - key_begin);
    const int64_t base =
        blocks[key_begin / bs] * cache.block_stride + w.kv_head * cache.head_stride;
    const float* k_rows = nullptr;  // key j at k_rows + j * row_stride (when !transpose_k)
    const float* v_rows;            // value j at v_rows + j * row_stride
    int64_t row_stride = cache.slot_stride;
    if (transpose_k) {
      float* kt = sc.k_tile.data();
      for (int32_t j = 0; j < n_blk; ++j) {
        const T* ks = k_cache + base + j * cache.slot_stride;
        for (int32_t d = 0; d < D; ++d) kt[d * ld + j] = ToFloat(ks[d]);
      }
    }
    if constexpr (std::is_same_v<T, float>) {
      k_rows = k_cache + base;
      v_rows = v_cache + base;
    } else {
      for (int32_t j = 0; j < n_blk; ++j) {
        const T* ks = k_cache + base + j * cache.slot_stride;
        const T* vs = v_cache + base + j * cache.slot_stride;
        float* kd = sc.k_tile.data() + static_cast<size_t>(j) * D;
        float* vd = sc.v_tile.data() + static_cast<size_t>(j) * D;
        for (int32_t d = 0; d < D; ++d) {
          if (!transpose_k) kd[d] = ToFloat(ks[d]);
          vd[d] = ToFloat(vs[d]);
        }
      }
      k_rows = sc.k_tile.data();
      v_rows = sc.v_tile.data();
      row_stride = D;
    }
    for (int32_t r = 0; r < rows; ++r) {
      const int32_t pos = num_computed + (w.token_begin + r / G - q_start);
      const int32_t visible = std::min(n_blk, pos + 1 - key_begin);
      if (visible <= 0) continue;
      if (transpose_k && visible == n_blk && r + 4 <= rows) {  // later rows see at least as much
        const size_t at = static_cast<size_t>(r) * D;
        FourRowsFullBlock(sc.q.data() + at, sc.k_tile.data(), ld, v_rows, row_stride, n_blk, D,
                          job.scale, sc.scores.data(), sc.m.data() + r, sc.l.data() + r,
                          sc.acc.data() + at);
        r += 3;
        continue;
      }
      const float* qr = sc.q.data() + static_cast<size_t>(r) * D;
      float* s = sc.scores.data();
      if (transpose_k) {
        DotTransposed(qr, sc.k_tile.data(), ld, visible, D, s);
      } else {
        for (int32_t j = 0; j < visible; ++j) s[j] = Dot(qr, k_rows + j * row_stride, D);
      }
      const float blk_max = ScaleMax(s, visible, job.scale);
      const float m_old = sc.m[r];
      const float m_new = std::max(m_old, blk_max);
      const float c = m_new == m_old ? 1.0f : std::exp(m_old - m_new);
      const float sum = ExpShiftSum(s, visible, m_new);
      sc.l[r] = sc.l[r] * c + sum;
      sc.m[r] = m_new;
      AccumulateV(sc.acc.data() + static_cast<size_t>(r) * D, c, s, visible, v_rows, row_stride,
                  D);
    }
  }
  T* out = static_cast<T*>(job.out->data);
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t t = w.token_begin + r / G, h = w.kv_head * G + r % G;
    T* dst = out + t * job.out->token_stride + h * job.out->head_stride;
    const float inv = 1.0f / sc.l[r];
    const float* acc = sc.acc.data() + static_cast<size_t>(r) * D;
    for (int32_t d = 0; d < D; ++d) dst[d] = FromFloat<T>(acc[d] * inv);
  }
}

using ItemFn = void (*)(const Job&, const WorkItem&);

void ItemF32(const Job& job, const WorkItem& w) { RunItem<float>(job, w); }
void ItemBF16(const Job& job, const WorkItem& w) { RunItem<BFloat16>(job, w); }
#ifdef PASTE_ATTN_X86_VARIANTS
__attribute__((target("avx2,fma"))) void ItemF32Avx2(const Job& job, const WorkItem& w) {
  RunItem<float>(job, w);
}
__attribute__((target("avx2,fma"))) void ItemBF16Avx2(const Job& job, const WorkItem& w) {
  RunItem<BFloat16>(job, w);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void ItemF32Avx512(const Job& job,
                                                                       const WorkItem& w) {
  RunItem<float>(job, w);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void ItemBF16Avx512(const Job& job,
                                                                        const WorkItem& w) {
  RunItem<BFloat16>(job, w);
}
#endif

ItemFn SelectItemFn(DType dtype) {
  const bool f32 = dtype == DType::kFloat32;
#ifdef PASTE_ATTN_X86_VARIANTS
  static const int level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
  }();
  if (level == 2) return f32 ? ItemF32Avx512 : ItemBF16Avx512;
  if (level == 1) return f32 ? ItemF32Avx2 : ItemBF16Avx2;
#endif
  return f32 ? ItemF32 : ItemBF16;
}

}  // namespace

void PagedAttention::Forward(DType dtype, const PagedBatch& batch, const TokenTensor& q,
                             const PagedKVCache& cache, const TokenTensor& out) {
  CheckCache(cache);
  CheckBatch(batch, cache);
  if (batch.num_tokens == 0) return;
  PASTE_CHECK_ARG(q.data != nullptr && out.data != nullptr, "q and out must not be null");
  const int32_t group = num_heads_ / num_kv_heads_;
  const int32_t chunk = std::max<int32_t>(1, kMaxRowsPerItem / group);
  std::vector<WorkItem> items;
  int64_t total_cost = 0;
  for (int32_t s = 0; s < batch.num_seqs; ++s) {
    const int32_t begin = batch.query_start_loc[s], end = batch.query_start_loc[s + 1];
    const int32_t num_computed = batch.seq_lens[s] - (end - begin);
    for (int32_t t = begin; t < end; t += chunk) {
      const int32_t t_end = std::min(end, t + chunk);
      const int64_t keys = num_computed + (t_end - begin);
      const int64_t cost = static_cast<int64_t>(t_end - t) * group * keys;
      for (int32_t h = 0; h < num_kv_heads_; ++h) items.push_back({s, h, t, t_end, cost});
      total_cost += cost * num_kv_heads_;
    }
  }
  const Job job{&batch, &q, &cache, &out, group, head_dim_, scale_};
  const ItemFn fn = SelectItemFn(dtype);
  if (pool_.num_threads() == 1 || items.size() == 1 || total_cost * head_dim_ < kMinParallelWork) {
    for (const WorkItem& w : items) fn(job, w);
    return;
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const WorkItem& a, const WorkItem& b) { return a.cost > b.cost; });
  pool_.ParallelFor(static_cast<int64_t>(items.size()),
                    [&](int64_t i) { fn(job, items[static_cast<size_t>(i)]); });
}

}  // namespace paste
