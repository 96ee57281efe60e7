// PagedAttention: construction, input checks and the KV store. The attention kernel itself is
// in attention_kernel.cc (the algorithm is described in paged_attention.h).
#include "paste/paged_attention.h"

#include "paste/errors.h"

namespace paste {

PagedAttention::PagedAttention(int32_t num_heads, int32_t num_kv_heads, int32_t head_dim,
                               float scale, int32_t num_threads)
    : num_heads_(num_heads),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      scale_(scale),
      pool_(num_threads) {
  PASTE_CHECK_ARG(num_kv_heads > 0 && num_heads > 0 && num_heads % num_kv_heads == 0,
                  "num_heads (", num_heads, ") must be a positive multiple of num_kv_heads (",
                  num_kv_heads, ")");
  PASTE_CHECK_ARG(head_dim > 0, "head_dim must be positive, got ", head_dim);
  PASTE_CHECK_ARG(scale == scale, "scale must not be NaN");
}

void PagedAttention::CheckCache(const PagedKVCache& cache) const {
  PASTE_CHECK_ARG(cache.num_blocks > 0 && cache.block_size > 0,
                  "the KV cache needs num_blocks and block_size >= 1, got ", cache.num_blocks,
                  " and ", cache.block_size);
  PASTE_CHECK_ARG(cache.k != nullptr && cache.v != nullptr, "KV cache pointers must not be null");
  PASTE_CHECK_ARG(cache.block_stride >= 0 && cache.slot_stride >= 0 && cache.head_stride >= 0,
                  "KV cache strides must not be negative");
}

void PagedAttention::StoreKV(DType dtype, int32_t num_tokens, const TokenTensor& k,
                             const TokenTensor& v, const int64_t* slot_mapping,
                             const PagedKVCache& cache) const {
  PASTE_CHECK_ARG(num_tokens >= 0, "num_tokens must not be negative, got ", num_tokens);
  if (num_tokens == 0) return;
  CheckCache(cache);
  PASTE_CHECK_ARG(k.data != nullptr && v.data != nullptr && slot_mapping != nullptr,
                  "k, v and slot_mapping must not be null");
  const int64_t num_slots = static_cast<int64_t>(cache.num_blocks) * cache.block_size;
  for (int32_t t = 0; t < num_tokens; ++t) {
    PASTE_CHECK_ARG(slot_mapping[t] >= -1 && slot_mapping[t] < num_slots, "slot_mapping[", t,
                    "] = ", slot_mapping[t], " is outside [-1, ", num_slots, ")");
  }
  const int64_t elem = DTypeSize(dtype);
  const size_t row_bytes = static_cast<size_t>(head_dim_) * elem;
  auto* k_dst = static_cast<char*>(cache.k);
  auto* v_dst = static_cast<char*>(cache.v);
  const auto* k_src = static_cast<const char*>(k.data);
  const auto* v_src = static_cast<const char*>(v.data);
  for (int32_t t = 0; t < num_tokens; ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    const int64_t base = (slot / cache.block_size) * cache.block_stride +
                         (slot % cache.block_size) * cache.slot_stride;
    for (int32_t h = 0; h < num_kv_heads_; ++h) {
      const int64_t dst = (base + h * cache.head_stride) * elem;
      std::memcpy(k_dst + dst, k_src + (t * k.token_stride + h * k.head_stride) * elem, row_bytes);
      std::memcpy(v_dst + dst, v_src + (t * v.token_stride + h * v.head_stride) * elem, row_bytes);
    }
  }
}

void PagedAttention::CheckBatch(const PagedBatch& b, const PagedKVCache& cache) const {
  PASTE_CHECK_ARG(b.num_seqs >= 0 && b.num_tokens >= 0 && b.num_kv_indices >= 0,
                  "num_seqs, num_tokens and num_kv_indices must not be negative");
  PASTE_CHECK_ARG(b.query_start_loc != nullptr && b.kv_indptr != nullptr,
                  "query_start_loc and kv_indptr must not be null");
  PASTE_CHECK_ARG(b.num_seqs == 0 || b.seq_lens != nullptr, "seq_lens must not be null");
  PASTE_CHECK_ARG(b.num_kv_indices == 0 || b.kv_indices != nullptr,
                  "kv_indices must not be null");
  PASTE_CHECK_ARG(b.query_start_loc[0] == 0 && b.query_start_loc[b.num_seqs] == b.num_tokens,
                  "query_start_loc must run from 0 to num_tokens (", b.num_tokens, ")");
  PASTE_CHECK_ARG(b.kv_indptr[0] == 0 && b.kv_indptr[b.num_seqs] == b.num_kv_indices,
                  "kv_indptr must run from 0 to num_kv_indices (", b.num_kv_indices, ")");
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    const int32_t q_len = b.query_start_loc[s + 1] - b.query_start_loc[s];
    const int32_t num_pages = b.kv_indptr[s + 1] - b.kv_indptr[s];
    PASTE_CHECK_ARG(q_len >= 0 && num_pages >= 0, "query_start_loc and kv_indptr must not ",
                    "decrease (sequence ", s, ")");
    PASTE_CHECK_ARG(b.seq_lens[s] >= q_len, "seq_lens[", s, "] = ", b.seq_lens[s],
                    " is less than its ", q_len, " query tokens");
    const int64_t needed =
        (static_cast<int64_t>(b.seq_lens[s]) + cache.block_size - 1) / cache.block_size;
    PASTE_CHECK_ARG(num_pages >= needed, "sequence ", s, " has ", num_pages,
                    " blocks but seq_len ", b.seq_lens[s], " needs ", needed);
  }
  for (int32_t i = 0; i < b.num_kv_indices; ++i) {
    PASTE_CHECK_ARG(b.kv_indices[i] >= 0 && b.kv_indices[i] < cache.num_blocks, "kv_indices[",
                    i, "] = ", b.kv_indices[i], " is not a block id in [0, ", cache.num_blocks,
                    ")");
  }
}

}  // namespace paste
