// The CUDA kernel bodies (paste/cuda_kernels.h) compiled by the host compiler: element
// conversions (exhaustive over 16-bit patterns), index helpers, and the three kernels run by
// the CPU emulation with 1 to 32 lanes per block against naive references (double-precision
// attention; sort-based top-k / top-p). Also the typed error of a launch without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "paste/cuda_kernels.h"
#include "paste/cuda_ops.h"
#include "paste/errors.h"

namespace paste {
namespace {

namespace ck = cuda_kernels;

TEST(CudaKernelsHost, Float16AndBFloat16RoundTripEveryPattern) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const ck::Float16 h{static_cast<uint16_t>(bits)};
    const float f = ck::ToFloat(h);
    ck::Float16 back{0};
    ck::StoreFloat(f, &back);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(ck::ToFloat(back)));
    } else {
      EXPECT_EQ(back.bits, bits) << "float16 " << bits;
    }
    const float g = ck::ToFloat(ck::BFloat16{static_cast<uint16_t>(bits)});
    ck::BFloat16 back_bf{0};
    ck::StoreFloat(g, &back_bf);
    if (!std::isnan(g)) EXPECT_EQ(back_bf.bits, bits) << "bfloat16 " << bits;
  }
}

TEST(CudaKernelsHost, Float16RoundsToNearestEven) {
  auto half = [](float f) {
    ck::Float16 h{0};
    ck::StoreFloat(f, &h);
    return h.bits;
  };
  EXPECT_EQ(half(1.0f), 0x3c00);
  EXPECT_EQ(half(-2.0f), 0xc000);
  EXPECT_EQ(half(65504.0f), 0x7bff);
  EXPECT_EQ(half(65519.0f), 0x7bff);
  EXPECT_EQ(half(65520.0f), 0x7c00);               // rounds up to inf
  EXPECT_EQ(half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(half(std::ldexp(0.5f, -24)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(half(std::ldexp(1.5f, -24)), 0x0002);  // tie -> even (2)
  EXPECT_EQ(half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even mantissa
  EXPECT_EQ(half(1.0f + std::ldexp(3.0f, -11)), 0x3c02);
  EXPECT_EQ(half(std::nanf("")) & 0x7e00, 0x7e00);
}

TEST(CudaKernelsHost, OrderedKeyKeepsFloatOrder) {
  std::vector<float> xs = {-INFINITY, -3e38f, -1.5f, -1e-40f, -0.0f, 0.0f, 1e-40f, 1.0f, 2.5f,
                           3e38f,     INFINITY};
  for (size_t i = 1; i < xs.size(); ++i) {
    EXPECT_LT(ck::OrderedKey(xs[i - 1]), ck::OrderedKey(xs[i])) << xs[i - 1] << " vs " << xs[i];
  }
}

TEST(CudaKernelsHost, UniformNoiseIsOpenDeterministicAndSpread) {
  double sum = 0;
  for (uint32_t i = 0; i < 20000; ++i) {
    const float u = ck::UniformNoise(7, 3, i);
    ASSERT_GT(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 20000, 0.5, 0.01);
  EXPECT_EQ(ck::UniformNoise(7, 3, 11), ck::UniformNoise(7, 3, 11));
  EXPECT_NE(ck::UniformNoise(7, 3, 11), ck::UniformNoise(7, 4, 11));
  EXPECT_NE(ck::UniformNoise(7, 3, 11), ck::UniformNoise(8, 3, 11));
}

TEST(CudaKernelsHost, FindSequenceSkipsEmptySequences) {
  const std::vector<int32_t> qsl = {0, 2, 2, 5, 5, 6};  // sequences 1 and 3 have no tokens
  const std::vector<int32_t> expected = {0, 0, 2, 2, 2, 4};
  for (int32_t t = 0; t < 6; ++t) EXPECT_EQ(ck::FindSequence(qsl.data(), 5, t), expected[t]) << t;
}

TEST(CudaKernelsHost, SlotAndKeyOffsetsStayInsideTheCache) {
  ck::CachePlanes cache;
  cache.num_blocks = 3;
  cache.block_size = 4;
  cache.block_stride = 100;
  cache.slot_stride = 10;
  EXPECT_EQ(ck::SlotOffset(-1, cache), -1);
  EXPECT_EQ(ck::SlotOffset(0, cache), 0);
  EXPECT_EQ(ck::SlotOffset(6, cache), 120);
  EXPECT_EQ(ck::SlotOffset(11, cache), 230);
  EXPECT_EQ(ck::SlotOffset(12, cache), -1);
  const std::vector<int32_t> blocks = {2, 7, -1};
  const ck::QueryRow row{12, 0, blocks.data(), 3};
  EXPECT_EQ(ck::KeyOffset(row, 1, cache), 210);
  EXPECT_EQ(ck::KeyOffset(row, 4, cache), -1);  // block id 7 is outside the cache
  EXPECT_EQ(ck::KeyOffset(row, 9, cache), -1);  // block id -1
  EXPECT_EQ(ck::KeyOffset(row, 12, cache), -1);  // past the block table
}

// ---------------------------------------------------------------------------------------------
// StoreKV and PagedAttention against naive references.

struct AttentionProblem {
  int32_t num_heads, num_kv_heads, head_dim, block_size, num_blocks;
  std::vector<int32_t> qsl, seq_lens, indptr, indices;
  std::vector<int64_t> slots;
  std::vector<float> q, k_cache, v_cache;  // float32 values (already rounded for 16-bit types)
  int32_t num_tokens() const { return qsl.back(); }
  int32_t num_seqs() const { return static_cast<int32_t>(seq_lens.size()); }
};

// Sequences given as (num_computed, num_new); blocks are a shuffled permutation of the cache.
AttentionProblem MakeProblem(int32_t h, int32_t kvh, int32_t d, int32_t bs,
                             const std::vector<std::pair<int32_t, int32_t>>& seqs, uint32_t seed) {
  std::mt19937 rng(seed);
  AttentionProblem p{h, kvh, d, bs, 0, {0}, {}, {0}, {}, {}, {}, {}, {}};
  int32_t total_blocks = 0;
  for (auto [computed, added] : seqs) total_blocks += (computed + added + bs - 1) / bs;
  p.num_blocks = total_blocks + 2;
  std::vector<int32_t> ids(p.num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  size_t next = 0;
  for (auto [computed, added] : seqs) {
    const int32_t len = computed + added, nb = (len + bs - 1) / bs;
    p.seq_lens.push_back(len);
    p.qsl.push_back(p.qsl.back() + added);
    for (int32_t b = 0; b < nb; ++b) p.indices.push_back(ids[next++]);
    p.indptr.push_back(static_cast<int32_t>(p.indices.size()));
    for (int32_t pos = computed; pos < len; ++pos) {
      p.slots.push_back(int64_t{p.indices[p.indptr[p.indptr.size() - 2] + pos / bs]} * bs + pos % bs);
    }
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  p.q.resize(size_t(p.num_tokens()) * h * d);
  p.k_cache.resize(size_t(p.num_blocks) * bs * kvh * d);
  p.v_cache.resize(p.k_cache.size());
  for (float& x : p.q) x = normal(rng);
  for (float& x : p.k_cache) x = normal(rng);
  for (float& x : p.v_cache) x = normal(rng);
  return p;
}

std::vector<double> NaiveAttention(const AttentionProblem& p, float scale) {
  const int32_t h = p.num_heads, kvh = p.num_kv_heads, d = p.head_dim, bs = p.block_size;
  std::vector<double> out(p.q.size());
  for (int32_t s = 0; s < p.num_seqs(); ++s) {
    const int32_t q_len = p.qsl[s + 1] - p.qsl[s];
    for (int32_t t = p.qsl[s]; t < p.qsl[s + 1]; ++t) {
      const int32_t kv_len = p.seq_lens[s] - q_len + (t - p.qsl[s]) + 1;
      for (int32_t head = 0; head < h; ++head) {
        const int32_t kv_head = head / (h / kvh);
        std::vector<double> scores(kv_len);
        double max = -INFINITY;
        for (int32_t pos = 0; pos < kv_len; ++pos) {
          const size_t base =
              ((size_t(p.indices[p.indptr[s] + pos / bs]) * bs + pos % bs) * kvh + kv_head) * d;
          double dot = 0;
          for (int32_t i = 0; i < d; ++i) {
            dot += double(p.q[(size_t(t) * h + head) * d + i] * scale) * p.k_cache[base + i];
          }
          scores[pos] = dot;
          max = std::max(max, dot);
        }
        double sum = 0;
        for (double& x : scores) sum += (x = std::exp(x - max));
        for (int32_t pos = 0; pos < kv_len; ++pos) {
          const size_t base =
              ((size_t(p.indices[p.indptr[s] + pos / bs]) * bs + pos % bs) * kvh + kv_head) * d;
          for (int32_t i = 0; i < d; ++i) {
            out[(size_t(t) * h + head) * d + i] += scores[pos] / sum * p.v_cache[base + i];
          }
        }
      }
    }
  }
  return out;
}

template <class T>
std::vector<T> Convert(std::vector<float>* values) {  // rounds the values to T in place
  std::vector<T> out(values->size());
  for (size_t i = 0; i < values->size(); ++i) {
    ck::StoreFloat((*values)[i], &out[i]);
    (*values)[i] = ck::ToFloat(out[i]);
  }
  return out;
}

ck::CachePlanes Planes(const AttentionProblem& p, void* k, void* v) {
  ck::CachePlanes c;
  c.k = k;
  c.v = v;
  c.num_blocks = p.num_blocks;
  c.block_size = p.block_size;
  c.head_stride = p.head_dim;
  c.slot_stride = int64_t{p.num_kv_heads} * p.head_dim;
  c.block_stride = c.slot_stride * p.block_size;
  return c;
}

template <class T>
void CheckAttention(ck::ElemType dtype, AttentionProblem p, int32_t num_lanes, double tolerance) {
  std::vector<T> q = Convert<T>(&p.q), k = Convert<T>(&p.k_cache), v = Convert<T>(&p.v_cache);
  std::vector<T> out(p.q.size());
  ck::AttentionArgs a;
  a.dtype = dtype;
  a.num_seqs = p.num_seqs();
  a.num_tokens = p.num_tokens();
  a.num_heads = p.num_heads;
  a.num_kv_heads = p.num_kv_heads;
  a.head_dim = p.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  a.query_start_loc = p.qsl.data();
  a.seq_lens = p.seq_lens.data();
  a.kv_indptr = p.indptr.data();
  a.kv_indices = p.indices.data();
  a.q = {q.data(), int64_t{p.num_heads} * p.head_dim, p.head_dim};
  a.out = {out.data(), int64_t{p.num_heads} * p.head_dim, p.head_dim};
  a.cache = Planes(p, k.data(), v.data());
  EmulatePagedAttention(a, num_lanes);
  const std::vector<double> expected = NaiveAttention(p, a.scale);
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(ck::ToFloat(out[i]), expected[i], tolerance) << "element " << i << ", "
                                                               << num_lanes << " lanes";
  }
}

const std::vector<std::pair<int32_t, int32_t>> kMixedBatch = {
    {9, 1}, {0, 7}, {0, 0}, {13, 5}, {40, 1}, {3, 1}};  // decode, prefill, empty, chunk, ...

TEST(CudaKernelsHost, PagedAttentionMatchesNaiveReferenceForAnyLaneCount) {
  for (int32_t lanes : {1, 3, 4, 32}) {
    CheckAttention<float>(ck::ElemType::kFloat32, MakeProblem(4, 2, 16, 4, kMixedBatch, 1), lanes,
                          1e-5);
  }
  CheckAttention<float>(ck::ElemType::kFloat32, MakeProblem(6, 2, 5, 16, kMixedBatch, 2), 4, 1e-5);
  CheckAttention<float>(ck::ElemType::kFloat32, MakeProblem(2, 2, 64, 8, {{200, 1}}, 3), 8, 1e-5);
}

TEST(CudaKernelsHost, PagedAttentionSixteenBitTypes) {
  // The inputs are rounded before the reference sees them; only the output rounding remains.
  CheckAttention<ck::BFloat16>(ck::ElemType::kBFloat16, MakeProblem(4, 1, 32, 4, kMixedBatch, 4),
                               4, 2e-2);
  CheckAttention<ck::Float16>(ck::ElemType::kFloat16, MakeProblem(4, 1, 32, 4, kMixedBatch, 5), 4,
                              3e-3);
}

TEST(CudaKernelsHost, PagedAttentionMasksBlocksOutsideTheCache) {
  AttentionProblem p = MakeProblem(1, 1, 4, 2, {{3, 1}}, 6);  // keys 0..3 in 2 blocks
  AttentionProblem visible = p;
  p.indices[1] = p.num_blocks + 5;  // keys 2, 3 now point outside: masked
  visible.seq_lens = {2};           // reference: the query sees keys 0, 1 only
  visible.qsl = {0, 1};
  std::vector<float> out(4);
  ck::AttentionArgs a;
  a.num_seqs = 1;
  a.num_tokens = 1;
  a.num_heads = a.num_kv_heads = 1;
  a.head_dim = 4;
  a.scale = 0.5f;
  a.query_start_loc = p.qsl.data();
  a.seq_lens = p.seq_lens.data();
  a.kv_indptr = p.indptr.data();
  a.kv_indices = p.indices.data();
  a.q = {p.q.data(), 4, 4};
  a.out = {out.data(), 4, 4};
  a.cache = Planes(p, p.k_cache.data(), p.v_cache.data());
  EmulatePagedAttention(a, 2);
  const std::vector<double> expected = NaiveAttention(visible, 0.5f);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], expected[i], 1e-5);
}

TEST(CudaKernelsHost, StoreKVWritesExactSlotsAndSkipsOthers) {
  const int32_t kvh = 2, d = 3, bs = 4, nb = 3;
  std::vector<float> k_cache(nb * bs * kvh * d, -1.0f), v_cache(k_cache.size(), -1.0f);
  const std::vector<int64_t> slots = {5, -1, 11, 12, 0};  // 12 is outside: skipped
  std::vector<float> k(slots.size() * kvh * d), v(k.size());
  for (size_t i = 0; i < k.size(); ++i) k[i] = float(i), v[i] = float(1000 + i);
  ck::StoreKVArgs a;
  a.num_tokens = static_cast<int32_t>(slots.size());
  a.num_kv_heads = kvh;
  a.head_dim = d;
  a.k = {k.data(), kvh * d, d};
  a.v = {v.data(), kvh * d, d};
  a.slot_mapping = slots.data();
  a.cache = {k_cache.data(), v_cache.data(), nb, bs, bs * kvh * d, kvh * d, d};
  EmulateStoreKV(a, 4);
  std::vector<float> want_k(k_cache.size(), -1.0f), want_v(v_cache.size(), -1.0f);
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] < 0 || slots[t] >= nb * bs) continue;
    for (int32_t i = 0; i < kvh * d; ++i) {
      want_k[slots[t] * kvh * d + i] = k[t * kvh * d + i];
      want_v[slots[t] * kvh * d + i] = v[t * kvh * d + i];
    }
  }
  EXPECT_EQ(k_cache, want_k);
  EXPECT_EQ(v_cache, want_v);
}

// ---------------------------------------------------------------------------------------------
// Sampling.

struct Row {
  float temperature;
  int32_t top_k;
  float top_p;
  int64_t seed;
};

// One token per (row, offset): every row sampled at offsets 0 .. num_offsets-1, all in one
// launch (one emulated block per (offset, row)). logits: one row shared by all, or one per row.
std::vector<std::vector<int64_t>> SampleMany(const std::vector<float>& logits, int32_t vocab,
                                             const std::vector<Row>& rows, int32_t num_offsets,
                                             int32_t num_lanes) {
  const int32_t n = static_cast<int32_t>(rows.size()), total = n * num_offsets;
  std::vector<float> all_logits, temperature, top_p;
  std::vector<int32_t> top_k;
  std::vector<int64_t> seeds, offsets, tokens(total, -1);
  const bool shared = logits.size() == static_cast<size_t>(vocab);  // else one row per Row
  for (int32_t o = 0; o < num_offsets; ++o) {
    for (int32_t i = 0; i < n; ++i) {
      const Row& r = rows[i];
      const auto row_begin = logits.begin() + (shared ? 0 : i * vocab);
      all_logits.insert(all_logits.end(), row_begin, row_begin + vocab);
      temperature.push_back(r.temperature);
      top_k.push_back(r.top_k);
      top_p.push_back(r.top_p);
      seeds.push_back(r.seed);
      offsets.push_back(o);
    }
  }
  ck::SamplingArgs a;
  a.num_rows = total;
  a.vocab_size = vocab;
  a.logits = all_logits.data();
  a.row_stride = vocab;
  a.temperature = temperature.data();
  a.top_k = top_k.data();
  a.top_p = top_p.data();
  a.seeds = seeds.data();
  a.offsets = offsets.data();
  a.tokens = tokens.data();
  EmulateSampling(a, num_lanes);
  std::vector<std::vector<int64_t>> result(n);
  for (int32_t i = 0; i < total; ++i) result[i % n].push_back(tokens[i]);
  return result;
}

// The kept set of paste.engine.sampler.apply_top_k_top_p, by sorting (double precision).
std::set<int64_t> KeptSet(const float* logits, int32_t vocab, const Row& r) {
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const int32_t k = r.top_k > 0 ? std::min(r.top_k, vocab) : vocab;
  double z = 0;
  for (int32_t j = 0; j < k; ++j) z += std::exp((logits[order[j]] - logits[order[0]]) / r.temperature);
  std::set<int64_t> kept;
  double before = 0;
  for (int32_t j = 0; j < k; ++j) {
    if (r.top_p < 1.0f && before / z >= r.top_p) break;
    kept.insert(order[j]);
    before += std::exp((logits[order[j]] - logits[order[0]]) / r.temperature);
  }
  return kept;
}

TEST(CudaKernelsHost, GreedyRowsTakeTheFirstMaximum) {
  const std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f, /* row 2 */ -INFINITY,
                                     -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (int32_t lanes : {1, 2, 4, 8}) {
    auto tokens = SampleMany(logits, 5, {{0.0f, 0, 1.0f, 1}, {0.0f, 0, 1.0f, 1}}, 1, lanes);
    EXPECT_EQ(tokens[0][0], 1) << lanes;
    auto top1 = SampleMany(logits, 5, {{0.7f, 1, 1.0f, 9}}, 1, lanes);
    EXPECT_EQ(top1[0][0], 1) << lanes;
  }
  auto all_masked = SampleMany({-INFINITY, -INFINITY, -INFINITY}, 3, {{0.0f, 0, 1.0f, 1}}, 1, 2);
  EXPECT_EQ(all_masked[0][0], 0);
}

TEST(CudaKernelsHost, TopKAndTopPKeepExactlyTheReferenceSet) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int32_t vocab = 50;
  std::vector<float> logits(vocab);
  for (float& x : logits) x = normal(rng);
  const std::vector<Row> rows = {{1.0f, 5, 1.0f, 1},  {0.8f, 0, 0.6f, 2},  {1.3f, 12, 0.7f, 3},
                                 {1.0f, 0, 0.95f, 4}, {2.0f, 50, 1.0f, 5}, {0.5f, 3, 0.2f, 6}};
  const auto tokens = SampleMany(logits, vocab, rows, 400, 1);
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::set<int64_t> kept = KeptSet(logits.data(), vocab, rows[r]);
    const std::set<int64_t> seen(tokens[r].begin(), tokens[r].end());
    for (int64_t t : seen) EXPECT_TRUE(kept.count(t)) << "row " << r << " drew " << t;
    if (kept.size() <= 6) EXPECT_EQ(seen, kept) << "row " << r;  // small sets: all drawn
  }
  // Several lanes per block draw the very same tokens (the noise is per token, not per lane).
  for (int32_t lanes : {3, 4}) {
    const auto multi = SampleMany(logits, vocab, rows, 30, lanes);
    for (size_t r = 0; r < rows.size(); ++r) {
      EXPECT_EQ(multi[r], std::vector<int64_t>(tokens[r].begin(), tokens[r].begin() + 30));
    }
  }
}

TEST(CudaKernelsHost, DrawsFollowTheFilteredDistribution) {
  const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -3.0f};
  const Row row{0.9f, 5, 0.9f, 42};
  const int32_t draws = 20000;
  auto tokens = SampleMany(logits, 6, {row}, draws, 1)[0];
  const std::set<int64_t> kept = KeptSet(logits.data(), 6, row);
  double z = 0;
  for (int64_t t : kept) z += std::exp(logits[t] / row.temperature);
  std::map<int64_t, int32_t> counts;
  for (int64_t t : tokens) ++counts[t];
  for (int64_t t = 0; t < 6; ++t) {
    const double p = kept.count(t) ? std::exp(logits[t] / row.temperature) / z : 0.0;
    const double sigma = std::sqrt(p * (1 - p) / draws);
    EXPECT_NEAR(counts[t] / double(draws), p, 5 * sigma + 1e-9) << "token " << t;
  }
}

TEST(CudaKernelsHost, SeededRowsDependOnlyOnTheirSeedOffsetAndLogits) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(3 * 40);
  for (float& x : logits) x = normal(rng);
  std::vector<float> alone(logits.begin() + 40, logits.begin() + 80);  // row 1 on its own
  const Row seeded{1.0f, 0, 1.0f, 1234};
  auto batch = SampleMany(logits, 40, {{1.0f, 0, 1.0f, 1}, seeded, {0.7f, 3, 0.9f, 2}}, 50, 4);
  auto single = SampleMany(alone, 40, {seeded}, 50, 3);
  EXPECT_EQ(batch[1], single[0]);
  auto other_seed = SampleMany(alone, 40, {{1.0f, 0, 1.0f, 99}}, 50, 3);
  EXPECT_NE(single[0], other_seed[0]);
}

TEST(CudaKernelsHost, ChecksRejectBadSizes) {
  ck::SamplingArgs s;
  s.vocab_size = 0;
  EXPECT_THROW(EmulateSampling(s, 4), InvalidArgument);
  ck::AttentionArgs a;
  a.num_heads = 3;
  a.num_kv_heads = 2;
  a.head_dim = 8;
  EXPECT_THROW(EmulatePagedAttention(a, 4), InvalidArgument);
  ck::StoreKVArgs k;
  k.num_kv_heads = 1;
  k.head_dim = 4;
  k.cache.num_blocks = 1;
  k.cache.block_size = 1;
  k.cache.k = k.cache.v = &s;
  k.cache.head_stride = 4;
  k.cache.slot_stride = k.cache.block_stride = 4;
  EXPECT_THROW(EmulateStoreKV(k, 0), InvalidArgument);  // num_lanes
}

TEST(CudaKernelsHost, LaunchWithoutAGpuThrowsCudaUnavailable) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(LaunchStoreKV(ck::StoreKVArgs{}, 0), CudaUnavailable);
  EXPECT_THROW(LaunchPagedAttention(ck::AttentionArgs{}, 0), CudaUnavailable);
  EXPECT_THROW(LaunchSampling(ck::SamplingArgs{}, 0), CudaUnavailable);
}

}  // namespace
}  // namespace paste
