// PagedAttention against a naive reference (double precision, one query row at a time, keys
// gathered through the block table): prefill, chunked prefill, decode, mixed batches, GQA,
// several block sizes and head_dims (vector and scalar tails), long KV, empty-query sequences,
// 1-3 threads, bfloat16; the KV store's exact slots; bad plans rejected before any write. Also
// the ThreadPool on its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "paste/errors.h"
#include "paste/paged_attention.h"
#include "paste/thread_pool.h"

namespace paste {
namespace {

struct Case {
  int32_t num_heads, num_kv_heads, head_dim, block_size;
  std::vector<int32_t> num_computed, num_new;  // per sequence
};

// A whole problem: random q and cache, block tables of shuffled block ids.
struct Problem {
  Case c;
  int32_t num_blocks = 0, num_tokens = 0;
  std::vector<int32_t> qsl{0}, seq_lens, indptr{0}, indices;
  std::vector<float> q, k_cache, v_cache;

  explicit Problem(const Case& cs, uint32_t seed) : c(cs) {
    std::mt19937 rng(seed);
    for (size_t s = 0; s < c.num_new.size(); ++s) {
      seq_lens.push_back(c.num_computed[s] + c.num_new[s]);
      qsl.push_back(qsl.back() + c.num_new[s]);
      int32_t pages = (seq_lens.back() + c.block_size - 1) / c.block_size;
      indptr.push_back(indptr.back() + pages);
    }
    num_tokens = qsl.back();
    num_blocks = indptr.back() + 3;  // a few blocks nobody reads
    std::vector<int32_t> ids(num_blocks);
    for (int32_t i = 0; i < num_blocks; ++i) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    indices.assign(ids.begin(), ids.begin() + indptr.back());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](std::vector<float>& v, size_t n) {
      v.resize(n);
      for (auto& x : v) x = normal(rng);
    };
    fill(q, static_cast<size_t>(num_tokens) * c.num_heads * c.head_dim);
    size_t cache_size =
        static_cast<size_t>(num_blocks) * c.block_size * c.num_kv_heads * c.head_dim;
    fill(k_cache, cache_size);
    fill(v_cache, cache_size);
  }

  PagedBatch Batch() const {
    return PagedBatch{static_cast<int32_t>(seq_lens.size()), num_tokens,
                      static_cast<int32_t>(indices.size()), qsl.data(), seq_lens.data(),
                      indptr.data(), indices.data()};
  }
  PagedKVCache Cache(void* k, void* v) const {
    const int64_t slot = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
    return PagedKVCache{k, v, num_blocks, c.block_size, slot * c.block_size, slot, c.head_dim};
  }
  TokenTensor Tokens(void* data) const {
    return TokenTensor{data, static_cast<int64_t>(c.num_heads) * c.head_dim, c.head_dim};
  }

  // Naive attention: for each query row, all visible keys through the block table, in double.
  std::vector<float> Reference(float scale) const {
    const int32_t D = c.head_dim, G = c.num_heads / c.num_kv_heads;
    std::vector<float> out(q.size());
    for (size_t s = 0; s < seq_lens.size(); ++s) {
      const int32_t computed = seq_lens[s] - (qsl[s + 1] - qsl[s]);
      for (int32_t t = qsl[s]; t < qsl[s + 1]; ++t) {
        const int32_t pos = computed + t - qsl[s];
        for (int32_t h = 0; h < c.num_heads; ++h) {
          const float* qr = &q[(static_cast<size_t>(t) * c.num_heads + h) * D];
          std::vector<double> p(pos + 1);
          std::vector<const float*> vr(pos + 1);
          double mx = -INFINITY, sum = 0;
          for (int32_t key = 0; key <= pos; ++key) {
            const int32_t block = indices[indptr[s] + key / c.block_size];
            const size_t off = ((static_cast<size_t>(block) * c.block_size + key % c.block_size) *
                                    c.num_kv_heads + h / G) * D;
            double dot = 0;
            for (int32_t d = 0; d < D; ++d) dot += double(qr[d]) * k_cache[off + d];
            p[key] = dot * scale;
            vr[key] = &v_cache[off];
            mx = std::max(mx, p[key]);
          }
          for (auto& x : p) sum += (x = std::exp(x - mx));
          for (int32_t d = 0; d < D; ++d) {
            double o = 0;
            for (int32_t key = 0; key <= pos; ++key) o += p[key] * vr[key][d];
            out[(static_cast<size_t>(t) * c.num_heads + h) * D + d] = static_cast<float>(o / sum);
          }
        }
      }
    }
    return out;
  }
};

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << "at flat index " << i;
  }
}

void CheckCase(const Case& c, int32_t num_threads, uint32_t seed = 1) {
  Problem p(c, seed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  PagedAttention attn(c.num_heads, c.num_kv_heads, c.head_dim, scale, num_threads);
  std::vector<float> out(p.q.size(), NAN);
  attn.Forward(DType::kFloat32, p.Batch(), p.Tokens(p.q.data()),
               p.Cache(p.k_cache.data(), p.v_cache.data()), p.Tokens(out.data()));
  ExpectClose(out, p.Reference(scale), 2e-6);
}

TEST(PagedAttention, PrefillOneSequence) { CheckCase({2, 2, 16, 4, {0}, {11}}, 1); }

TEST(PagedAttention, ChunkedPrefillOverCachedBlocks) { CheckCase({4, 2, 8, 4, {9}, {6}}, 1); }

TEST(PagedAttention, DecodeBatch) { CheckCase({4, 4, 32, 16, {0, 5, 16, 40}, {1, 1, 1, 1}}, 1); }

TEST(PagedAttention, MixedBatchGqaAndScalarTail) {
  // head_dim 20 = one 16-lane vector + a scalar tail; group 3.
  CheckCase({6, 2, 20, 4, {5, 0, 6, 13}, {2, 3, 4, 1}}, 1);
}

TEST(PagedAttention, BlockSizesAndHeadDims) {
  for (int32_t bs : {1, 2, 3, 8, 16, 32}) {
    for (int32_t d : {4, 12, 64, 80}) {
      SCOPED_TRACE(testing::Message() << "block_size " << bs << " head_dim " << d);
      CheckCase({8, 2, d, bs, {0, 7, 30}, {9, 1, 5}}, 1, bs * 100 + d);
    }
  }
}

TEST(PagedAttention, LongKvSpansManyBlocksAndChunks) {
  // 300 query rows x group 4 exceed one item (64 rows): several chunks per sequence.
  CheckCase({8, 2, 64, 16, {700, 0}, {1, 300}}, 2);
}

TEST(PagedAttention, EmptyQuerySequencesAndThreads) {
  for (int32_t threads : {1, 2, 3}) {
    SCOPED_TRACE(threads);
    CheckCase({4, 1, 64, 8, {10, 4, 0, 33}, {0, 70, 0, 1}}, threads);
  }
}

TEST(PagedAttention, StridedQueryAndOutput) {
  // q and out rows padded to 3 * head_dim per head (a view into a fused projection).
  Case c{2, 1, 16, 4, {3}, {5}};
  Problem p(c, 7);
  const int32_t D = c.head_dim, H = c.num_heads, T = p.num_tokens;
  std::vector<float> q_wide(static_cast<size_t>(T) * H * 3 * D, 1e30f);
  for (int32_t t = 0; t < T; ++t)
    for (int32_t h = 0; h < H; ++h)
      for (int32_t d = 0; d < D; ++d)
        q_wide[(static_cast<size_t>(t) * H + h) * 3 * D + d] = p.q[(t * H + h) * D + d];
  std::vector<float> out_wide(q_wide.size(), -7.0f);
  PagedAttention attn(H, 1, D, 0.25f);
  TokenTensor qv{q_wide.data(), int64_t{H} * 3 * D, 3 * D};
  TokenTensor ov{out_wide.data(), int64_t{H} * 3 * D, 3 * D};
  attn.Forward(DType::kFloat32, p.Batch(), qv, p.Cache(p.k_cache.data(), p.v_cache.data()), ov);
  auto want = p.Reference(0.25f);
  for (int32_t t = 0; t < T; ++t)
    for (int32_t h = 0; h < H; ++h)
      for (int32_t d = 0; d < 3 * D; ++d) {
        float got = out_wide[(static_cast<size_t>(t) * H + h) * 3 * D + d];
        if (d < D) {
          const float w = want[(t * H + h) * D + d];
          ASSERT_NEAR(got, w, 2e-6 * (1 + std::fabs(w)));
        } else {
          ASSERT_EQ(got, -7.0f);  // padding untouched
        }
      }
}

TEST(PagedAttention, BFloat16MatchesReferenceOnRoundedInputs) {
  Case c{4, 2, 32, 8, {5, 0}, {3, 12}};
  Problem p(c, 3);
  auto round = [](std::vector<float>& v, std::vector<uint16_t>& b) {
    b.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      b[i] = FloatToBFloat16(v[i]);
      v[i] = BFloat16ToFloat(b[i]);
    }
  };
  std::vector<uint16_t> qb, kb, vb, ob(p.q.size());
  round(p.q, qb);
  round(p.k_cache, kb);
  round(p.v_cache, vb);
  PagedAttention attn(4, 2, 32, 0.2f, 2);
  attn.Forward(DType::kBFloat16, p.Batch(), p.Tokens(qb.data()), p.Cache(kb.data(), vb.data()),
               p.Tokens(ob.data()));
  auto want = p.Reference(0.2f);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(BFloat16ToFloat(ob[i]), want[i], 1e-2 * (1 + std::fabs(want[i]))) << i;
  }
}

TEST(PagedAttention, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(BFloat16ToFloat(0x3f80) * (1 + 1.0f / 256)), 0x3f80);  // tie: even
  EXPECT_EQ(FloatToBFloat16(BFloat16ToFloat(0x3f81) * (1 + 1.0f / 256) + 1e-7f), 0x3f82);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

TEST(PagedAttention, StoreKvWritesExactSlotsAndSkipsMinusOne) {
  const int32_t KVH = 2, D = 3, BS = 4, NB = 5;
  PagedAttention attn(4, KVH, D, 1.0f);
  std::vector<float> k(3 * KVH * D), v(k.size()), kc(NB * BS * KVH * D, 0), vc(kc.size(), 0);
  for (size_t i = 0; i < k.size(); ++i) k[i] = 1.0f + i, v[i] = -1.0f - i;
  std::vector<int64_t> slots{9, -1, 19};
  PagedKVCache cache{kc.data(), vc.data(), NB, BS, BS * KVH * D, KVH * D, D};
  TokenTensor kt{k.data(), KVH * D, D}, vt{v.data(), KVH * D, D};
  attn.StoreKV(DType::kFloat32, 3, kt, vt, slots.data(), cache);
  std::vector<float> want_k(kc.size(), 0), want_v(kc.size(), 0);
  for (int32_t i = 0; i < KVH * D; ++i) {
    want_k[9 * KVH * D + i] = k[i], want_v[9 * KVH * D + i] = v[i];
    want_k[19 * KVH * D + i] = k[2 * KVH * D + i], want_v[19 * KVH * D + i] = v[2 * KVH * D + i];
  }
  EXPECT_EQ(kc, want_k);
  EXPECT_EQ(vc, want_v);
  // One bad slot: nothing is written, not even the good ones before it.
  std::vector<int64_t> bad{0, 20, 1};
  EXPECT_THROW(attn.StoreKV(DType::kFloat32, 3, kt, vt, bad.data(), cache), InvalidArgument);
  EXPECT_EQ(kc, want_k);
}

TEST(PagedAttention, BadPlansAndConfigsThrowInvalidArgument) {
  EXPECT_THROW(PagedAttention(6, 4, 8, 1.0f), InvalidArgument);
  EXPECT_THROW(PagedAttention(4, 2, 0, 1.0f), InvalidArgument);
  EXPECT_THROW(PagedAttention(4, 2, 8, 1.0f, 0), InvalidArgument);
  Problem p({2, 1, 8, 4, {3}, {2}}, 5);
  PagedAttention attn(2, 1, 8, 1.0f);
  std::vector<float> out(p.q.size(), 5.0f);
  auto run = [&](const Problem& pr) {
    attn.Forward(DType::kFloat32, pr.Batch(), pr.Tokens(const_cast<float*>(pr.q.data())),
                 pr.Cache(const_cast<float*>(pr.k_cache.data()),
                          const_cast<float*>(pr.v_cache.data())),
                 pr.Tokens(out.data()));
  };
  Problem bad_block = p;
  bad_block.indices[1] = p.num_blocks;  // out of range
  EXPECT_THROW(run(bad_block), InvalidArgument);
  Problem short_table = p;
  short_table.seq_lens[0] = 9;  // needs 3 blocks, has 2
  EXPECT_THROW(run(short_table), InvalidArgument);
  Problem few_keys = p;
  few_keys.seq_lens[0] = 1;  // fewer keys than query tokens
  EXPECT_THROW(run(few_keys), InvalidArgument);
  Problem bad_qsl = p;
  bad_qsl.qsl[1] = 3;  // does not end at num_tokens
  EXPECT_THROW(run(bad_qsl), InvalidArgument);
  EXPECT_EQ(out, std::vector<float>(p.q.size(), 5.0f));  // nothing written
}

TEST(ThreadPool, RunsEveryItemOnceWithItsOwnJobsFunction) {
  // Back-to-back jobs, some too short for the workers to join: every item runs exactly once,
  // with the function of its own job (a worker never carries one job's function into the next).
  ThreadPool pool(3);
  EXPECT_EQ(pool.num_threads(), 3);
  for (int job = 0; job < 2000; ++job) {
    const int64_t n = job % 37;
    std::vector<std::atomic<int>> hits(n);
    pool.ParallelFor(n, [&hits, job](int64_t i) { hits[i].fetch_add(job + 1); });
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(hits[i].load(), job + 1) << "job " << job << " item " << i;
    }
  }
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.ParallelFor(100, [](int64_t i) {
    if (i == 10) throw std::runtime_error("boom");
  }), std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(100, [&](int64_t i) { sum += i; });
  EXPECT_EQ(sum.load(), 4950);
}

}  // namespace
}  // namespace paste
