// PagedAttention: KV store and causal paged attention on the CPU, float32 or bfloat16.
//
// A flat batch of T query tokens from n sequences (AttentionMetadata's arrays). Sequence s owns
// query tokens query_start_loc[s] .. query_start_loc[s+1]; its num_computed = seq_lens[s] -
// (its query count) tokens were cached before this step, so its query token i sits at position
// num_computed + i and attends to keys 0 .. that position (chunked prefill and decode are the
// same case). Key p of s lives in block kv_indices[kv_indptr[s] + p / block_size], slot
// p % block_size:
//
//   keys of s:     0 1 2 3 | 4 5 6 7 | 8 9        block_size 4, seq_len 10, 3 new tokens
//   blocks:        [  7    |   2     | 5 ]        kv_indices[kv_indptr[s] ..] = 7 2 5
//   query 7:       x x x x | x x x x .  .         sees keys 0..7
//   query 9:       x x x x | x x x x | x x        sees keys 0..9
//
// Work is split into items (sequence, kv head, chunk of query tokens); an item holds the rows
// (token, query head) of its chunk for the query heads sharing that kv head (GQA: query head h
// reads kv head h / (num_heads / num_kv_heads)) and walks the sequence's blocks once, so every
// K/V block is read once per item. Per row it keeps an online softmax: running max m, running
// sum l and an unnormalised output acc; a block with scores x_j updates
//   m' = max(m, max_j x_j);  c = exp(m - m');  l = l c + sum_j exp(x_j - m');
//   acc = acc c + sum_j exp(x_j - m') v_j
// and the row's output is acc / l. Scores and sums are float32 whatever the storage dtype.
// Items run on a ThreadPool (most expensive first); small batches run on the caller.
//
// Tensors are raw pointers with strides in elements; the last dimension (head_dim) must be
// contiguous. The caller (paste.kernels.cpu_attention) guarantees the memory behind the sizes;
// this class checks the sizes and every index it reads from the plan (slots, block ids), so a
// bad plan throws InvalidArgument before anything is written.
#ifndef PASTE_PAGED_ATTENTION_H_
#define PASTE_PAGED_ATTENTION_H_

#include <cstdint>
#include <cstring>

#include "paste/thread_pool.h"

namespace paste {

enum class DType : int32_t { kFloat32 = 0, kBFloat16 = 1 };

inline int64_t DTypeSize(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

// bfloat16 = the high 16 bits of a float32; rounding to nearest even, NaN stays NaN.
inline float BFloat16ToFloat(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline uint16_t FloatToBFloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// [num_tokens, num_heads, head_dim] query/key/value/output rows.
struct TokenTensor {
  void* data = nullptr;
  int64_t token_stride = 0;  // elements
  int64_t head_stride = 0;   // elements
};

// Both planes of one layer's cache, each [num_blocks, block_size, num_kv_heads, head_dim] with
// the same strides (paste.engine.models.kv_cache layout).
struct PagedKVCache {
  void* k = nullptr;
  void* v = nullptr;
  int32_t num_blocks = 0;
  int32_t block_size = 0;
  int64_t block_stride = 0;  // elements
  int64_t slot_stride = 0;   // elements
  int64_t head_stride = 0;   // elements
};

// One step's flat batch (host int32 arrays, the names of AttentionMetadata).
struct PagedBatch {
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t num_kv_indices = 0;
  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1], 0 .. num_tokens, non-decreasing
  const int32_t* seq_lens = nullptr;         // [num_seqs], >= the sequence's query count
  const int32_t* kv_indptr = nullptr;        // [num_seqs + 1], 0 .. num_kv_indices
  const int32_t* kv_indices = nullptr;       // [num_kv_indices] block ids
};

class PagedAttention {
 public:
  // num_heads must be a multiple of num_kv_heads. num_threads >= 1 counts the caller.
  PagedAttention(int32_t num_heads, int32_t num_kv_heads, int32_t head_dim, float scale,
                 int32_t num_threads = 1);

  int32_t num_heads() const { return num_heads_; }
  int32_t num_kv_heads() const { return num_kv_heads_; }
  int32_t head_dim() const { return head_dim_; }
  float scale() const { return scale_; }
  int32_t num_threads() const { return pool_.num_threads(); }

  // k_cache[slot] = k[t], v_cache[slot] = v[t] for slot = slot_mapping[t] unless it is -1.
  // k, v: [num_tokens, num_kv_heads, head_dim] of `dtype`, like the cache. Every slot is
  // checked (in [-1, num_blocks * block_size)) before the first write.
  void StoreKV(DType dtype, int32_t num_tokens, const TokenTensor& k, const TokenTensor& v,
               const int64_t* slot_mapping, const PagedKVCache& cache) const;

  // out[t] = causal attention of q[t] over its sequence's cached keys (see above).
  // q, out: [batch.num_tokens, num_heads, head_dim] of `dtype`, out must not overlap q.
  // Validates the batch first. Calls from several threads are serialised by the pool.
  void Forward(DType dtype, const PagedBatch& batch, const TokenTensor& q,
               const PagedKVCache& cache, const TokenTensor& out);

 private:
  void CheckCache(const PagedKVCache& cache) const;
  void CheckBatch(const PagedBatch& batch, const PagedKVCache& cache) const;

  int32_t num_heads_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  float scale_;
  ThreadPool pool_;
};

}  // namespace paste

#endif  // PASTE_PAGED_ATTENTION_H_
