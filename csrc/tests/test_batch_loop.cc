// Exact-state tests of BatchLoop: plans (tokens, slots, CSR block tables), chunked prefill,
// priorities, prefix hits, parking/resume with retained KV, preemption choice, pin reclaim.
#include <gtest/gtest.h>

#include <vector>

#include "batch_loop_testing.h"
#include "paste/batch_loop.h"
#include "paste/errors.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;
using testing_util::CommitAll;
using testing_util::Config;

int64_t Add(BatchLoop& loop, const I32& tokens, int32_t max_tokens = 4, double priority = 0,
            bool park = false, I32 stops = {}) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.priority = priority;
  p.park_on_finish = park;
  p.stop_token_ids = stops;
  return loop.AddSequence(tokens.data(), static_cast<int32_t>(tokens.size()), p);
}

TEST(BatchLoop, FirstStepPrefillsAllAndBuildsFlatArrays) {
  BatchLoop loop(Config(8, 4, 32, 8, 32));
  int64_t a = Add(loop, {10, 11, 12, 13, 14});
  int64_t b = Add(loop, {20, 21});
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.input_ids, (I32{10, 11, 12, 13, 14, 20, 21}));
  EXPECT_EQ(p.positions, (I32{0, 1, 2, 3, 4, 0, 1}));
  EXPECT_EQ(p.slot_mapping, (I32{0, 1, 2, 3, 4, 8, 9}));  // a: blocks 0 1, b: block 2
  EXPECT_EQ(p.query_start_loc, (I32{0, 5, 7}));
  EXPECT_EQ(p.num_computed_tokens, (I32{0, 0}));
  EXPECT_EQ(p.seq_lens, (I32{5, 2}));
  EXPECT_EQ(p.kv_indptr, (I32{0, 2, 3}));
  EXPECT_EQ(p.kv_indices, (I32{0, 1, 2}));
  EXPECT_EQ(p.kv_last_page_len, (I32{1, 2}));
  EXPECT_EQ(p.logits_indices, (I32{4, 6}));
  EXPECT_EQ(p.sample_seq_ids, (I64{a, b}));
  EXPECT_EQ(p.admitted_seq_ids, (I64{a, b}));
  I32 sampled{100, 200};
  const StepEvents& e = loop.Commit(sampled.data(), 2);
  EXPECT_EQ(e.seq_ids, (I64{a, b}));
  EXPECT_EQ(e.tokens, (I32{100, 200}));
  EXPECT_EQ(loop.Tokens(a), (I32{10, 11, 12, 13, 14, 100}));
  const StepPlan& d = loop.Schedule(1);  // decode: one token each
  EXPECT_EQ(d.input_ids, (I32{100, 200}));
  EXPECT_EQ(d.positions, (I32{5, 2}));
  EXPECT_EQ(d.slot_mapping, (I32{5, 10}));
  EXPECT_EQ(d.num_computed_tokens, (I32{5, 2}));
  EXPECT_EQ(d.logits_indices, (I32{0, 1}));
}

TEST(BatchLoop, AbandonedStepIsPlannedAgainAndNothingAdvances) {
  BatchLoop loop(Config(8, 4, 32, 8, 32));
  int64_t a = Add(loop, {10, 11, 12, 13, 14});
  CommitAll(loop, 100);
  int64_t b = Add(loop, {20, 21});
  const StepPlan& p = loop.Schedule(0);
  const I32 inputs = p.input_ids, slots = p.slot_mapping;
  EXPECT_EQ(inputs, (I32{100, 20, 21}));
  loop.AbandonStep();
  EXPECT_FALSE(loop.StepInFlight());
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 5);
  EXPECT_EQ(loop.GetSeqInfo(b).num_computed_tokens, 0);
  EXPECT_EQ(loop.Tokens(a), (I32{10, 11, 12, 13, 14, 100}));
  const StepPlan& again = loop.Schedule(1);  // the same tokens into the same slots
  EXPECT_EQ(again.input_ids, inputs);
  EXPECT_EQ(again.slot_mapping, slots);
  EXPECT_EQ(again.sample_seq_ids, (I64{a, b}));
  EXPECT_TRUE(again.admitted_seq_ids.empty());  // b was admitted by the abandoned step
  loop.AbandonStep();
  loop.Free(a);  // refused while a step is in flight; fine after abandoning
  loop.Free(b);
  EXPECT_EQ(loop.block_manager().NumFreeBlocks(), 8);
  EXPECT_THROW(loop.AbandonStep(), InvalidArgument);
}

TEST(BatchLoop, ChunkedPrefillWithinTokenBudget) {
  BatchLoop loop(Config(16, 4, 6));
  int64_t a = Add(loop, I32(10, 7));
  const StepPlan& p1 = loop.Schedule(0);
  EXPECT_EQ(p1.seq_lens, (I32{6}));
  EXPECT_TRUE(p1.sample_seq_ids.empty());  // prompt not finished: nothing to sample
  loop.Commit(nullptr, 0);
  int64_t b = Add(loop, {1, 2, 3});
  const StepPlan& p2 = loop.Schedule(0);
  EXPECT_EQ(p2.seq_ids, (I64{a, b}));
  EXPECT_EQ(p2.num_computed_tokens, (I32{6, 0}));
  EXPECT_EQ(p2.query_start_loc, (I32{0, 4, 6}));  // a finishes (4), b gets the last 2
  EXPECT_EQ(p2.sample_seq_ids, (I64{a}));
  I32 s{5};
  loop.Commit(s.data(), 1);
  EXPECT_EQ(loop.GetSeqInfo(b).num_computed_tokens, 2);
}

TEST(BatchLoop, StopTokenAndLengthFinishAndFree) {
  BatchLoop loop(Config(8, 4, 32, 8, 32));
  int64_t a = Add(loop, {1, 2}, /*max_tokens=*/5, 0, false, {99});
  int64_t b = Add(loop, {3}, /*max_tokens=*/2);
  CommitAll(loop, 7);
  I32 s{99, 7};
  loop.Schedule(0);
  const StepEvents& e = loop.Commit(s.data(), 2);
  EXPECT_EQ(e.finish_reasons, (std::vector<int8_t>{1, 2}));  // stop, length
  EXPECT_FALSE(loop.HasSequence(a));
  EXPECT_FALSE(loop.HasSequence(b));
  EXPECT_EQ(loop.block_manager().NumFreeBlocks(), 8);
  EXPECT_FALSE(loop.HasUnfinished());
}

TEST(BatchLoop, PriorityOrdersAdmissionAndBatch) {
  BatchLoop loop(Config(16, 4, 64, /*max_seqs=*/2));
  int64_t a = Add(loop, {1}, 4, 0.0);
  int64_t b = Add(loop, {2}, 4, 5.0);
  int64_t c = Add(loop, {3}, 4, 1.0);
  EXPECT_EQ(loop.WaitingOrder(), (I64{b, c, a}));
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.seq_ids, (I64{b, c}));  // two seats
  I32 s{7, 7};
  loop.Commit(s.data(), 2);
  loop.SetPriority(a, 10.0);
  EXPECT_EQ(loop.Schedule(0).seq_ids, (I64{b, c}));  // a waits for a seat; no overtaking
  loop.Commit(s.data(), 2);
}

TEST(BatchLoop, PrefixCacheSkipsComputedTokensButComputesTheLast) {
  BatchLoop loop(Config(16, 4, 64));
  I32 prompt{1, 2, 3, 4, 5, 6, 7, 8};
  Add(loop, prompt, 1);
  CommitAll(loop, 9);  // finishes (length 1) and frees; blocks 0 1 cached
  int64_t b = Add(loop, prompt, 1);
  const StepPlan& p = loop.Schedule(0);
  // Whole prompt cached, but the last token must be computed: only block 0 is reused.
  EXPECT_EQ(p.num_computed_tokens, (I32{4}));
  EXPECT_EQ(p.input_ids, (I32{5, 6, 7, 8}));
  EXPECT_EQ(p.admitted_num_reused, (I32{4}));
  EXPECT_EQ(p.kv_indices[0], 0);
  EXPECT_EQ(loop.GetSeqInfo(b).num_computed_tokens, 4);
  I32 s{1};
  loop.Commit(s.data(), 1);
  I32 longer{1, 2, 3, 4, 5, 6, 7, 8, 42};
  Add(loop, longer, 1);
  const StepPlan& q = loop.Schedule(0);
  EXPECT_EQ(q.num_computed_tokens, (I32{8}));
  EXPECT_EQ(q.input_ids, (I32{42}));
  EXPECT_EQ(loop.stats().num_reused_tokens, 12);
}

TEST(BatchLoop, CacheSaltLimitsPrefixHitsToItsOwnSequences) {
  BatchLoop loop(Config(32, 4, 64));
  I32 prompt{1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto add = [&](uint64_t salt) {
    SeqParams p;
    p.max_tokens = 1;
    p.cache_salt = salt;
    return loop.AddSequence(prompt.data(), static_cast<int32_t>(prompt.size()), p);
  };
  EXPECT_EQ(loop.GetSeqInfo(add(5)).cache_salt, 5u);
  CommitAll(loop, 1);  // finishes and frees; blocks 0 1 cached under salt 5
  add(6);
  EXPECT_EQ(loop.Schedule(0).admitted_num_reused, (I32{0}));  // another salt: all computed
  I32 s{1};
  loop.Commit(s.data(), 1);
  add(0);
  EXPECT_EQ(loop.Schedule(0).admitted_num_reused, (I32{0}));  // unsalted: all computed
  loop.Commit(s.data(), 1);
  add(5);
  EXPECT_EQ(loop.Schedule(0).admitted_num_reused, (I32{8}));  // its own salt: hit
  loop.Commit(s.data(), 1);
  add(6);
  EXPECT_EQ(loop.Schedule(0).admitted_num_reused, (I32{8}));  // salt 6 was cached too
  loop.Commit(s.data(), 1);
  EXPECT_EQ(loop.stats().num_reused_tokens, 16);
}

TEST(BatchLoop, ParkedSessionResumesWithRetainedKv) {
  BatchLoop loop(Config(16, 4, 64));
  int64_t a = Add(loop, {1, 2, 3, 4, 5}, 2, 0, /*park=*/true);
  CommitAll(loop, 6);
  CommitAll(loop, 7);  // length 2 -> parked, 6 computed, token 7 not yet
  SeqInfo info = loop.GetSeqInfo(a);
  EXPECT_EQ(info.status, SeqStatus::kParked);
  EXPECT_EQ(info.num_computed_tokens, 6);
  EXPECT_TRUE(loop.block_manager().IsPinned(a));
  I32 tool_result{50, 51, 52};
  loop.Resume(a, tool_result.data(), 3, 4, 2.0);
  const StepPlan& p = loop.Schedule(1);
  EXPECT_EQ(p.num_computed_tokens, (I32{6}));
  EXPECT_EQ(p.input_ids, (I32{7, 50, 51, 52}));
  EXPECT_EQ(p.positions, (I32{6, 7, 8, 9}));
  EXPECT_EQ(p.admitted_num_reused, (I32{6}));
  // The returning turn grows from 2 to 3 blocks (10 tokens of 4).
  EXPECT_EQ(p.kv_indptr, (I32{0, 3}));
  EXPECT_EQ(p.kv_indices, (I32{0, 1, 2}));
  EXPECT_EQ(p.slot_mapping, (I32{6, 7, 8, 9}));
  EXPECT_FALSE(loop.block_manager().IsPinned(a));
  EXPECT_EQ(loop.GetSeqInfo(a).priority, 2.0);
}

TEST(BatchLoop, AResumedTurnHasItsOwnStopTokensAndPinTime) {
  BatchLoop loop(Config(16, 4, 64));
  int64_t a = Add(loop, {1, 2, 3}, 1, 0, /*park=*/true, /*stops=*/{99});
  CommitAll(loop, 6);  // length 1 -> parked
  I32 more{7};
  loop.Resume(a, more.data(), 1, 5, 0.0, I32{42}, 0.5);
  CommitAll(loop, 99);  // the first turn's stop token no longer ends this one
  EXPECT_EQ(loop.GetSeqInfo(a).status, SeqStatus::kRunning);
  loop.Schedule(2);
  I32 stop{42};
  const StepEvents& e = loop.Commit(stop.data(), 1);
  EXPECT_EQ(e.finish_reasons, (std::vector<int8_t>{1}));  // stop, by the new turn's token
  EXPECT_EQ(loop.GetSeqInfo(a).status, SeqStatus::kParked);
  loop.Resume(a, more.data(), 1, 5, 0.0);  // nothing given: the last turn's stops stay
  CommitAll(loop, 42);
  EXPECT_EQ(loop.GetSeqInfo(a).status, SeqStatus::kParked);
  EXPECT_THROW(loop.Resume(a, more.data(), 1, 5, 0.0, I32{-1}), InvalidArgument);
  EXPECT_THROW(loop.Resume(a, more.data(), 1, 5, 0.0, std::nullopt, -1.0), InvalidArgument);
  EXPECT_EQ(loop.GetSeqInfo(a).status, SeqStatus::kParked);  // a refused resume changes nothing
}

TEST(BatchLoop, PreemptsLowestPriorityWhenBlocksRunOut) {
  // 4 blocks of 2: a (prio 1) and b (prio 0) take 2 blocks each after prefill.
  BatchLoop loop(Config(4, 2, 64, 8, 8));
  int64_t a = Add(loop, {1, 2, 3}, 4, 1.0);
  int64_t b = Add(loop, {4, 5, 6}, 4, 0.0);
  CommitAll(loop, 9);  // prefill: a and b hold 2 blocks each (4 slots)
  CommitAll(loop, 9);  // decode position 3: still 2 blocks each
  CommitAll(loop, 9);  // position 4 needs a 3rd block each: b (lower priority) is preempted
  EXPECT_EQ(loop.stats().num_preemptions, 1);
  EXPECT_EQ(loop.GetSeqInfo(b).status, SeqStatus::kWaiting);
  EXPECT_EQ(loop.GetSeqInfo(b).num_computed_tokens, 0);
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 5);
  EXPECT_EQ(loop.Tokens(b), (I32{4, 5, 6, 9, 9}));  // keeps its sampled tokens for recompute
}

TEST(BatchLoop, RunningPreemptionPrefersReclaimingPins) {
  BatchLoop loop(Config(4, 2, 64, 8, 8));
  int64_t p = Add(loop, {1, 2, 3}, 1, 0, /*park=*/true);
  CommitAll(loop, 9);  // parked with 2 blocks pinned (expiry 30)
  int64_t a = Add(loop, {4, 5, 6}, 4);
  CommitAll(loop, 9);  // a: prefill, 2 blocks
  CommitAll(loop, 9);  // a: decode position 3, still 2 blocks
  const StepPlan& plan = loop.Schedule(0);  // a needs a 3rd block: pin reclaimed, no preemption
  EXPECT_EQ(plan.reclaimed_seq_ids, (I64{p}));
  EXPECT_TRUE(plan.preempted_seq_ids.empty());
  EXPECT_EQ(plan.seq_ids, (I64{a}));
  EXPECT_FALSE(loop.GetSeqInfo(p).has_blocks);
  EXPECT_EQ(loop.GetSeqInfo(p).status, SeqStatus::kParked);
}

TEST(BatchLoop, AdmissionReclaimsOnlyExpiredPins) {
  BatchLoop loop(Config(4, 2, 64, 8, 8));
  SeqParams sp;
  sp.max_tokens = 1;
  sp.park_on_finish = true;
  sp.pin_ttl_s = 10;
  I32 t{1, 2, 3};
  int64_t p = loop.AddSequence(t.data(), 3, sp);
  loop.Schedule(0);
  I32 s{9};
  loop.Commit(s.data(), 1);  // parked, pin expires at 10
  int64_t a = Add(loop, {4, 5, 6, 7, 8}, 1);  // needs 3 blocks, 2 free
  EXPECT_TRUE(loop.Schedule(5).seq_ids.empty());  // pin not expired: wait
  loop.Commit(nullptr, 0);
  const StepPlan& later = loop.Schedule(11);
  EXPECT_EQ(later.reclaimed_seq_ids, (I64{p}));
  EXPECT_EQ(later.seq_ids, (I64{a}));
}

TEST(BatchLoop, BadInputThrowsAndChangesNothing) {
  BatchLoop loop(Config(8, 4, 32, 8, 16));
  I32 empty;
  EXPECT_THROW(Add(loop, empty), InvalidArgument);
  EXPECT_THROW(Add(loop, {1, -2}), InvalidArgument);
  EXPECT_THROW(Add(loop, I32(16, 1)), InvalidArgument);  // no room below max_model_len
  EXPECT_THROW(Add(loop, {1}, 0), InvalidArgument);
  EXPECT_EQ(loop.NumWaiting(), 0);
  int64_t a = Add(loop, {1, 2});
  EXPECT_THROW(loop.Free(a + 1), UnknownSequence);
  I32 t{1};
  EXPECT_THROW(loop.Resume(a, t.data(), 1, 4, 0), InvalidArgument);  // not parked
  loop.Schedule(0);
  EXPECT_THROW(loop.Free(a), InvalidArgument);  // between schedule and commit
  EXPECT_THROW(loop.Schedule(0), InvalidArgument);
  I32 two{1, 2};
  EXPECT_THROW(loop.Commit(two.data(), 2), InvalidArgument);  // expects 1
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 0);
  I32 one{3};
  loop.Commit(one.data(), 1);
  EXPECT_THROW(loop.Commit(one.data(), 1), InvalidArgument);  // no step in flight
  EXPECT_EQ(loop.Tokens(a), (I32{1, 2, 3}));
  EXPECT_THROW(BatchLoop(Config(2, 4, 32, 8, 64)), InvalidArgument);  // max_len > pool
}

}  // namespace
}  // namespace paste
