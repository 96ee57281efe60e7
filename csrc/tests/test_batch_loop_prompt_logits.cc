// Exact-state tests of BatchLoop's prompt logits (SeqParams.prompt_logits): which rows are
// listed across chunked prefill, beside other sequences, after an abandoned step or a
// preemption, and that such a sequence reuses no cached prefix until its rows are computed.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "batch_loop_testing.h"
#include "paste/batch_loop.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;
using testing_util::CommitAll;
using testing_util::Config;

int64_t Add(BatchLoop& loop, const I32& tokens, bool prompt_logits, int32_t max_tokens = 4,
            double priority = 0, bool park = false) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.priority = priority;
  p.park_on_finish = park;
  p.prompt_logits = prompt_logits;
  return loop.AddSequence(tokens.data(), static_cast<int32_t>(tokens.size()), p);
}

TEST(BatchLoopPromptLogits, ChunkedPrefillListsEveryPromptRowButTheLast) {
  BatchLoop loop(Config(8, 4, 4, /*max_seqs=*/8, /*max_len=*/32));
  int64_t a = Add(loop, {10, 11, 12, 13, 14, 15}, true);
  const StepPlan& p = loop.Schedule(0);  // positions 0..3: all owed, no sampler yet
  EXPECT_EQ(p.prompt_logits_indices, (I32{0, 1, 2, 3}));
  EXPECT_EQ(p.prompt_logits_indptr, (I32{0, 4}));
  EXPECT_EQ(p.prompt_logits_seq_ids, (I64{a}));
  EXPECT_TRUE(p.sample_seq_ids.empty());
  loop.Commit(nullptr, 0);
  const StepPlan& q = loop.Schedule(0);  // positions 4, 5: row 0 owed, row 1 samples
  EXPECT_EQ(q.positions, (I32{4, 5}));
  EXPECT_EQ(q.prompt_logits_indices, (I32{0}));
  EXPECT_EQ(q.prompt_logits_indptr, (I32{0, 1}));
  EXPECT_EQ(q.logits_indices, (I32{1}));
  I32 s{7};
  loop.Commit(s.data(), 1);
  const StepPlan& d = loop.Schedule(0);  // decoding: nothing owed
  EXPECT_EQ(d.input_ids, (I32{7}));
  EXPECT_TRUE(d.prompt_logits_indices.empty());
  EXPECT_EQ(d.prompt_logits_indptr, (I32{0}));
  EXPECT_TRUE(d.prompt_logits_seq_ids.empty());
}

TEST(BatchLoopPromptLogits, RowsAreThoseOfTheBatchAndOnlyOfAskingSequences) {
  BatchLoop loop(Config(8, 4, 32, /*max_seqs=*/8, /*max_len=*/32));
  Add(loop, {1, 2, 3}, false);
  int64_t b = Add(loop, {4, 5, 6}, true);
  int64_t c = Add(loop, {7, 8}, true);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.input_ids, (I32{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(p.prompt_logits_indices, (I32{3, 4, 6}));  // b: positions 0 1, c: position 0
  EXPECT_EQ(p.prompt_logits_indptr, (I32{0, 2, 3}));
  EXPECT_EQ(p.prompt_logits_seq_ids, (I64{b, c}));
  EXPECT_EQ(p.logits_indices, (I32{2, 5, 7}));
}

TEST(BatchLoopPromptLogits, AOneTokenPromptOwesNothing) {
  BatchLoop loop(Config(8, 4, 32, /*max_seqs=*/8, /*max_len=*/32));
  Add(loop, {5}, true);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_TRUE(p.prompt_logits_indices.empty());
  EXPECT_TRUE(p.prompt_logits_seq_ids.empty());
  EXPECT_EQ(p.logits_indices, (I32{0}));
}

TEST(BatchLoopPromptLogits, NoCachedPrefixIsReusedButItsBlocksAreCachedForOthers) {
  BatchLoop loop(Config(16, 4, 64, /*max_seqs=*/8, /*max_len=*/32));
  const I32 prompt{1, 2, 3, 4, 5, 6, 7, 8, 9};
  Add(loop, prompt, false, 1);
  CommitAll(loop, 0);  // finished and freed; blocks of positions 0..7 cached
  int64_t b = Add(loop, prompt, true, 1);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.admitted_num_reused, (I32{0}));
  EXPECT_EQ(p.num_computed_tokens, (I32{0}));
  EXPECT_EQ(p.input_ids, prompt);
  EXPECT_EQ(p.prompt_logits_indices, (I32{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(p.prompt_logits_seq_ids, (I64{b}));
  I32 s{0};
  loop.Commit(s.data(), 1);
  Add(loop, prompt, false, 1);  // a plain request reuses the cached blocks again
  const StepPlan& q = loop.Schedule(0);
  EXPECT_EQ(q.admitted_num_reused, (I32{8}));
  EXPECT_TRUE(q.prompt_logits_indices.empty());
}

TEST(BatchLoopPromptLogits, AnAbandonedStepListsTheSameRowsAgain) {
  BatchLoop loop(Config(8, 4, 32, /*max_seqs=*/8, /*max_len=*/32));
  int64_t a = Add(loop, {1, 2, 3}, true);
  const I32 rows = loop.Schedule(0).prompt_logits_indices;
  loop.AbandonStep();
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(rows, (I32{0, 1}));
  EXPECT_EQ(p.prompt_logits_indices, rows);
  EXPECT_EQ(p.prompt_logits_seq_ids, (I64{a}));
}

TEST(BatchLoopPromptLogits, PreemptedBeforeItsRowsCommittedItListsThemAgain) {
  // 4 blocks of 2, budget 2: a (priority 1) decodes while b's prompt is still prefilling.
  BatchLoop loop(Config(4, 2, 2, /*max_seqs=*/8, /*max_len=*/8));
  int64_t a = Add(loop, {1, 2}, false, 8, 1.0);
  CommitAll(loop, 9);                              // a: prefill (positions 0 1)
  int64_t b = Add(loop, {4, 5, 6, 7}, true, 4, 0.0);
  const StepPlan& p = loop.Schedule(0);            // a decodes position 2, b prefills 0
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.prompt_logits_indices, (I32{1}));
  I32 s{9};
  loop.Commit(s.data(), 1);
  CommitAll(loop, 9);                              // a: position 3; b: position 1
  CommitAll(loop, 9);                              // a needs a 3rd block: b is preempted
  EXPECT_EQ(loop.stats().num_preemptions, 1);
  EXPECT_EQ(loop.GetSeqInfo(b).status, SeqStatus::kWaiting);
  loop.Free(a);
  const StepPlan& q = loop.Schedule(0);            // b again from position 0
  EXPECT_EQ(q.seq_ids, (I64{b}));
  EXPECT_EQ(q.admitted_num_reused, (I32{0}));
  EXPECT_EQ(q.positions, (I32{0, 1}));
  EXPECT_EQ(q.prompt_logits_indices, (I32{0, 1}));
}

TEST(BatchLoopPromptLogits, AResumedTurnOwesNoPromptLogits) {
  BatchLoop loop(Config(8, 4, 32, /*max_seqs=*/8, /*max_len=*/32));
  int64_t a = Add(loop, {1, 2, 3}, true, 1, 0.0, /*park=*/true);
  CommitAll(loop, 4);  // finishes (length 1) and parks
  I32 more{5, 6};
  loop.Resume(a, more.data(), 2, 2, 0.0, std::nullopt, std::nullopt);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.input_ids, (I32{4, 5, 6}));
  EXPECT_TRUE(p.prompt_logits_indices.empty());
  EXPECT_TRUE(p.prompt_logits_seq_ids.empty());
}

}  // namespace
}  // namespace paste
