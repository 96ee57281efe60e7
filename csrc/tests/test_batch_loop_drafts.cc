// Exact-state tests of BatchLoop's draft tokens: the plan layout of n-gram and explicit drafts,
// commit with partial acceptance (tokens, num_computed, events), the caps (budget, max_tokens,
// max_model_len, free blocks), prefix-cache registration after a rejection, and refused calls.
#include <gtest/gtest.h>

#include <vector>

#include "batch_loop_testing.h"
#include "paste/batch_loop.h"
#include "paste/errors.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;
using I8 = std::vector<int8_t>;
using testing_util::Config;

int64_t Add(BatchLoop& loop, const I32& tokens, int32_t num_draft, int32_t max_tokens = 10,
            I32 stops = {}, bool park = false, double priority = 0) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.num_draft_tokens = num_draft;
  p.stop_token_ids = stops;
  p.park_on_finish = park;
  p.priority = priority;
  return loop.AddSequence(tokens.data(), static_cast<int32_t>(tokens.size()), p);
}

const StepEvents& Step(BatchLoop& loop, const I32& sampled, const I32& accepted = {}) {
  loop.Schedule(0);
  return loop.Commit(sampled.data(), static_cast<int32_t>(sampled.size()),
                     accepted.empty() ? nullptr : accepted.data(),
                     static_cast<int32_t>(accepted.size()));
}

void SetDrafts(BatchLoop& loop, const I64& ids, const I32& indptr, const I32& tokens) {
  loop.SetDrafts(ids.data(), static_cast<int32_t>(ids.size()), indptr.data(), tokens.data());
}

// "1 2 3" repeats once the first token 3 is sampled: the n-gram draft is "9 1 2".
const I32 kPrompt{1, 2, 3, 9, 1, 2};

TEST(BatchLoopDrafts, NgramDraftPlanLayoutAndPartialAcceptance) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, /*num_draft=*/3);
  int64_t b = Add(loop, {5, 6}, 0);
  Step(loop, {3, 7});  // a: blocks 0 1, b: block 2
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.input_ids, (I32{3, 9, 1, 2, 7}));
  EXPECT_EQ(p.positions, (I32{6, 7, 8, 9, 2}));
  EXPECT_EQ(p.slot_mapping, (I32{6, 7, 12, 13, 10}));  // a's drafts grew block 3
  EXPECT_EQ(p.query_start_loc, (I32{0, 4, 5}));
  EXPECT_EQ(p.num_computed_tokens, (I32{6, 2}));
  EXPECT_EQ(p.seq_lens, (I32{10, 3}));
  EXPECT_EQ(p.kv_indptr, (I32{0, 3, 4}));
  EXPECT_EQ(p.kv_indices, (I32{0, 1, 3, 2}));
  EXPECT_EQ(p.kv_last_page_len, (I32{2, 3}));
  EXPECT_EQ(p.logits_indices, (I32{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.sample_indptr, (I32{0, 4, 5}));
  EXPECT_EQ(p.sample_seq_ids, (I64{a, b}));
  EXPECT_EQ(p.draft_tokens, (I32{9, 1, 2}));
  EXPECT_EQ(loop.stats().num_draft_tokens, 3);
  I32 sampled{50, 8}, accepted{2, 0};
  const StepEvents& e = loop.Commit(sampled.data(), 2, accepted.data(), 2);
  EXPECT_EQ(e.seq_ids, (I64{a, a, a, b}));
  EXPECT_EQ(e.tokens, (I32{9, 1, 50, 8}));
  EXPECT_EQ(e.finish_reasons, (I8{0, 0, 0, 0}));
  EXPECT_EQ(loop.Tokens(a), (I32{1, 2, 3, 9, 1, 2, 3, 9, 1, 50}));
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 9);  // the accepted drafts' KV is valid
  EXPECT_EQ(loop.GetSeqInfo(a).num_output_tokens, 4);
  EXPECT_EQ(loop.Tokens(b), (I32{5, 6, 7, 8}));
  EXPECT_EQ(loop.stats().num_accepted_draft_tokens, 2);
  // No suffix of a repeats now: the plan is the draft-free one, the rejected slot 13 rewritten.
  const StepPlan& q = loop.Schedule(0);
  EXPECT_EQ(q.input_ids, (I32{50, 8}));
  EXPECT_EQ(q.positions, (I32{9, 3}));
  EXPECT_EQ(q.slot_mapping, (I32{13, 11}));
  EXPECT_EQ(q.seq_lens, (I32{10, 4}));
  EXPECT_EQ(q.logits_indices, (I32{0, 1}));
  EXPECT_EQ(q.sample_indptr, (I32{0, 1, 2}));
  EXPECT_TRUE(q.draft_tokens.empty());
}

TEST(BatchLoopDrafts, StopTokenInsideAcceptedDraftsEndsTheTurnThere) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3, 10, /*stops=*/{1}, /*park=*/true);
  Step(loop, {3});
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{9, 1, 2}));
  I32 sampled{60}, accepted{3};
  const StepEvents& e = loop.Commit(sampled.data(), 1, accepted.data(), 1);
  EXPECT_EQ(e.seq_ids, (I64{a, a}));
  EXPECT_EQ(e.tokens, (I32{9, 1}));  // draft 2 and the sampled 60 are not appended
  EXPECT_EQ(e.finish_reasons, (I8{0, 1}));
  SeqInfo info = loop.GetSeqInfo(a);
  EXPECT_EQ(info.status, SeqStatus::kParked);
  EXPECT_EQ(info.num_tokens, 9);
  EXPECT_EQ(info.num_computed_tokens, 8);
  EXPECT_EQ(loop.stats().num_accepted_draft_tokens, 2);
}

TEST(BatchLoopDrafts, MaxTokensAndMaxModelLenCapTheDraft) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3, /*max_tokens=*/3);
  Step(loop, {3});  // 1 of 3 sampled: one draft plus the sampled token fill the turn
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{9}));
  I32 sampled{70}, accepted{1};
  const StepEvents& e = loop.Commit(sampled.data(), 1, accepted.data(), 1);
  EXPECT_EQ(e.tokens, (I32{9, 70}));
  EXPECT_EQ(e.finish_reasons, (I8{0, 2}));  // length, at exactly max_tokens
  EXPECT_FALSE(loop.HasSequence(a));

  BatchLoop short_loop(Config(16, 4, 32, /*max_seqs=*/8, /*max_len=*/10));
  int64_t b = Add(short_loop, kPrompt, 3);
  Step(short_loop, {3});  // 7 tokens: 2 drafts plus the sampled token reach 10
  EXPECT_EQ(short_loop.Schedule(0).draft_tokens, (I32{9, 1}));
  I32 two{80}, all{2};
  const StepEvents& f = short_loop.Commit(two.data(), 1, all.data(), 1);
  EXPECT_EQ(f.tokens, (I32{9, 1, 80}));
  EXPECT_EQ(f.finish_reasons, (I8{0, 0, 2}));
  EXPECT_FALSE(short_loop.HasSequence(b));
}

TEST(BatchLoopDrafts, DraftsTakeOnlyTheBudgetRealTokensLeave) {
  BatchLoop loop(Config(16, 4, /*budget=*/4));
  int64_t a = Add(loop, kPrompt, 3, 10, {}, false, /*priority=*/1.0);
  int64_t b = Add(loop, {5}, 0);
  loop.Schedule(0);  // a's first chunk of 4 takes the whole budget
  loop.Commit(nullptr, 0);
  Step(loop, {3, 7});  // a's last 2 tokens, b's prompt
  const StepPlan& p = loop.Schedule(0);
  // a (higher priority) gets the 2 tokens b's real token leaves, not 3.
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.input_ids, (I32{3, 9, 1, 7}));
  EXPECT_EQ(p.draft_tokens, (I32{9, 1}));
  EXPECT_EQ(p.logits_indices, (I32{0, 1, 2, 3}));
  EXPECT_EQ(p.sample_indptr, (I32{0, 3, 4}));
}

TEST(BatchLoopDrafts, NoFreeBlockMeansNoDraftAndNoPreemptionOrReclaim) {
  BatchLoop loop(Config(5, 2, 64, /*max_seqs=*/8, /*max_len=*/8));
  int64_t pinned = Add(loop, {7}, 0, /*max_tokens=*/1, {}, /*park=*/true);
  Step(loop, {9});  // parked on block 0, pin unexpired
  int64_t a = Add(loop, {1, 2, 1}, 2, 4, {}, false, 1.0);
  int64_t b = Add(loop, {4, 5, 6}, 0, 4);
  Step(loop, {2, 9});  // a: blocks 1 2, b: blocks 3 4, no block free
  const StepPlan& p = loop.Schedule(0);  // a's draft "1 2" would need a third block
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.input_ids, (I32{2, 9}));
  EXPECT_TRUE(p.draft_tokens.empty());
  EXPECT_EQ(p.sample_indptr, (I32{0, 1, 2}));
  EXPECT_TRUE(p.preempted_seq_ids.empty());
  EXPECT_TRUE(p.reclaimed_seq_ids.empty());
  EXPECT_TRUE(loop.GetSeqInfo(pinned).has_blocks);
  EXPECT_EQ(loop.stats().num_draft_tokens, 0);
  EXPECT_EQ(loop.block_manager().BlockTable(a), (I32{1, 2}));
}

TEST(BatchLoopDrafts, WithoutAFreeBlockTheDraftIsCutToTheRoomInItsLastBlock) {
  BatchLoop loop(Config(4, 4, 64, /*max_seqs=*/8, /*max_len=*/16));
  int64_t a = Add(loop, {1, 2, 3, 4, 5, 1}, 4, /*max_tokens=*/8);
  int64_t b = Add(loop, {7, 8, 9, 10, 11}, 0);
  Step(loop, {2, 9});  // a: 7 tokens in blocks 0 1 (8 slots), b: blocks 2 3, none free
  const StepPlan& p = loop.Schedule(0);  // a's draft "3 4 5 1" would need a third block
  EXPECT_EQ(p.seq_ids, (I64{a, b}));
  EXPECT_EQ(p.input_ids, (I32{2, 3, 9}));  // the one slot left in block 1 takes "3"
  EXPECT_EQ(p.positions, (I32{6, 7, 5}));
  EXPECT_EQ(p.draft_tokens, (I32{3}));
  EXPECT_EQ(p.sample_indptr, (I32{0, 2, 3}));
  EXPECT_EQ(p.seq_lens, (I32{8, 6}));
  EXPECT_TRUE(p.preempted_seq_ids.empty());
  EXPECT_EQ(loop.stats().num_draft_tokens, 1);
  EXPECT_EQ(loop.block_manager().BlockTable(a).size(), 2u);
}

TEST(BatchLoopDrafts, RejectedDraftNeverEntersThePrefixCache) {
  BatchLoop loop(Config(16, 2, 64, /*max_seqs=*/8, /*max_len=*/16));
  int64_t a = Add(loop, {1, 2, 3, 1, 2}, 2);
  Step(loop, {3});  // blocks 0 1 2
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{1, 2}));  // positions 6 7: block 3
  I32 sampled{40}, accepted{1};
  loop.Commit(sampled.data(), 1, accepted.data(), 1);  // 1 accepted, 2 rejected at position 7
  EXPECT_EQ(loop.Tokens(a), (I32{1, 2, 3, 1, 2, 3, 1, 40}));
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 7);
  // Block 3 held the drafts "1 2" but only position 6 is committed: it is not cached.
  Add(loop, {1, 2, 3, 1, 2, 3, 1, 2, 9}, 0);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.input_ids, (I32{40, 1, 2, 9}));  // a rewrites position 7; the newcomer reuses 6
  EXPECT_EQ(p.admitted_num_reused, (I32{6}));
  EXPECT_EQ(p.kv_indices, (I32{0, 1, 2, 3, 0, 1, 2, 4, 5}));
  I32 two{41, 42};
  loop.Commit(two.data(), 2);  // position 7 computed: a's block 3 ("1 40") registered
  Add(loop, {1, 2, 3, 1, 2, 3, 1, 40, 9}, 0);
  const StepPlan& q = loop.Schedule(0);
  EXPECT_EQ(q.admitted_num_reused, (I32{8}));
  // a grows block 6, the first newcomer keeps 0 1 2 4 5, the second shares a's 0 1 2 3.
  EXPECT_EQ(q.kv_indices, (I32{0, 1, 2, 3, 6, 0, 1, 2, 4, 5, 0, 1, 2, 3, 7}));
}

TEST(BatchLoopDrafts, ExplicitDraftsOverrideNgramForOneStep) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3);
  int64_t b = Add(loop, {5, 6}, 0);
  Step(loop, {3, 7});
  // b has num_draft_tokens 0: explicit drafts are not capped by it.
  SetDrafts(loop, {a, b}, {0, 2, 6}, {77, 78, 5, 5, 5, 5});
  SetDrafts(loop, {b}, {0, 4}, {6, 6, 6, 6});  // a later call replaces b's draft
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.draft_tokens, (I32{77, 78, 6, 6, 6, 6}));
  EXPECT_EQ(p.input_ids, (I32{3, 77, 78, 7, 6, 6, 6, 6}));
  EXPECT_EQ(p.sample_indptr, (I32{0, 3, 8}));
  loop.AbandonStep();
  const StepPlan& q = loop.Schedule(0);  // cleared by the schedule: n-gram again
  EXPECT_EQ(q.draft_tokens, (I32{9, 1, 2}));
  EXPECT_EQ(q.sample_indptr, (I32{0, 4, 5}));
  loop.AbandonStep();
  int64_t w = Add(loop, {1, 1}, 0);
  SetDrafts(loop, {a, w}, {0, 0, 1}, {4});  // an empty draft suppresses a's n-gram draft
  const StepPlan& r = loop.Schedule(0);
  EXPECT_EQ(r.seq_ids, (I64{a, b, w}));
  EXPECT_TRUE(r.draft_tokens.empty());
  EXPECT_EQ(r.input_ids, (I32{3, 7, 1, 1}));  // w is admitted (prefill): no draft
  EXPECT_EQ(loop.stats().num_draft_tokens, 2 + 4 + 3);
}

TEST(BatchLoopDrafts, AbandonedStepPlansTheSameDraftsAgain) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3);
  Step(loop, {3});
  const StepPlan& p = loop.Schedule(0);
  const I32 inputs = p.input_ids, slots = p.slot_mapping, rows = p.logits_indices;
  loop.AbandonStep();
  EXPECT_EQ(loop.Tokens(a), (I32{1, 2, 3, 9, 1, 2, 3}));
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 6);
  const StepPlan& again = loop.Schedule(1);
  EXPECT_EQ(again.input_ids, inputs);
  EXPECT_EQ(again.slot_mapping, slots);
  EXPECT_EQ(again.logits_indices, rows);
  EXPECT_EQ(again.draft_tokens, (I32{9, 1, 2}));
  EXPECT_EQ(loop.stats().num_draft_tokens, 6);  // scheduled twice
  I32 sampled{5}, accepted{3};
  const StepEvents& e = loop.Commit(sampled.data(), 1, accepted.data(), 1);
  EXPECT_EQ(e.tokens, (I32{9, 1, 2, 5}));
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 10);
}

TEST(BatchLoopDrafts, NumDraftTokensIsSetPerSequenceAndKeptByResume) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 2, /*max_tokens=*/1, {}, /*park=*/true);
  Step(loop, {3});  // length: parked
  I32 more{9};
  loop.Resume(a, more.data(), 1, 5, 0.0);
  Step(loop, {1});  // tokens 1 2 3 9 1 2 3 9 1: the new turn's first token
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{2, 3}));  // "2 3 9 1" at 1, then "2 3"
  loop.AbandonStep();
  loop.SetNumDraftTokens(a, 0);
  EXPECT_TRUE(loop.Schedule(0).draft_tokens.empty());
  loop.AbandonStep();
  loop.SetNumDraftTokens(a, 1);
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{2}));
  loop.AbandonStep();
  EXPECT_THROW(loop.SetNumDraftTokens(a, -1), InvalidArgument);
  EXPECT_THROW(loop.SetNumDraftTokens(a + 1, 1), UnknownSequence);
  EXPECT_THROW(Add(loop, {1}, -1), InvalidArgument);
  EXPECT_EQ(loop.NumWaiting(), 0);
}

TEST(BatchLoopDrafts, BadSetDraftsChangesNothing) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3);
  Step(loop, {3});
  SetDrafts(loop, {a}, {0, 1}, {77});
  EXPECT_THROW(SetDrafts(loop, {a, a + 1}, {0, 1, 2}, {5, 5}), UnknownSequence);
  EXPECT_THROW(SetDrafts(loop, {a}, {0, 2}, {5, -5}), InvalidArgument);
  EXPECT_THROW(SetDrafts(loop, {a}, {1, 2}, {5, 5}), InvalidArgument);      // indptr[0] != 0
  EXPECT_THROW(SetDrafts(loop, {a, a}, {0, 2, 1}, {5, 5}), InvalidArgument);  // decreasing
  EXPECT_THROW(SetDrafts(loop, {a, a}, {0, 1, 2}, {5, 5}), InvalidArgument);  // twice
  EXPECT_THROW(loop.SetDrafts(nullptr, -1, nullptr, nullptr), InvalidArgument);
  const StepPlan& p = loop.Schedule(0);
  EXPECT_EQ(p.draft_tokens, (I32{77}));  // the valid call's draft, untouched by the others
  EXPECT_THROW(SetDrafts(loop, {a}, {0, 1}, {5}), InvalidArgument);  // step in flight
  loop.AbandonStep();
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{9, 1, 2}));
}

TEST(BatchLoopDrafts, BadCommitKeepsTheStepInFlight) {
  BatchLoop loop(Config(16, 4, 32));
  int64_t a = Add(loop, kPrompt, 3);
  int64_t b = Add(loop, {5, 6}, 0);
  Step(loop, {3, 7});
  loop.Schedule(0);  // a: 3 drafts, b: none
  I32 sampled{50, 8};
  I32 too_many{4, 0}, negative{-1, 0}, b_has_none{0, 1}, short_len{1};
  EXPECT_THROW(loop.Commit(sampled.data(), 2, too_many.data(), 2), InvalidArgument);
  EXPECT_THROW(loop.Commit(sampled.data(), 2, negative.data(), 2), InvalidArgument);
  EXPECT_THROW(loop.Commit(sampled.data(), 2, b_has_none.data(), 2), InvalidArgument);
  EXPECT_THROW(loop.Commit(sampled.data(), 2, short_len.data(), 1), InvalidArgument);
  EXPECT_THROW(loop.Commit(sampled.data(), 2, nullptr, 2), InvalidArgument);
  EXPECT_THROW(loop.Commit(sampled.data(), 1, too_many.data(), 2), InvalidArgument);
  EXPECT_TRUE(loop.StepInFlight());
  EXPECT_EQ(loop.Tokens(a), (I32{1, 2, 3, 9, 1, 2, 3}));
  EXPECT_EQ(loop.GetSeqInfo(a).num_computed_tokens, 6);
  EXPECT_EQ(loop.stats().num_accepted_draft_tokens, 0);
  I32 ok{3, 0};
  const StepEvents& e = loop.Commit(sampled.data(), 2, ok.data(), 2);
  EXPECT_EQ(e.seq_ids, (I64{a, a, a, a, b}));
  EXPECT_EQ(e.tokens, (I32{9, 1, 2, 50, 8}));
}

TEST(BatchLoopDrafts, ConfigChecksNgramLengths) {
  BatchLoopConfig c = Config(16, 4, 32);
  c.draft_ngram_min = 0;
  EXPECT_THROW(BatchLoop{c}, InvalidArgument);
  c.draft_ngram_min = 3;
  c.draft_ngram_max = 2;
  EXPECT_THROW(BatchLoop{c}, InvalidArgument);
  c.draft_ngram_max = 3;
  // 7 1 2 9 8 1 2: the suffix "1 2" occurred at 1 (then "9 8 1"), "8 1 2" never did.
  const I32 prompt{7, 1, 2, 9, 8, 1};
  BatchLoop loop(c);  // only length-3 suffixes
  Add(loop, prompt, 3);
  Step(loop, {2});
  EXPECT_TRUE(loop.Schedule(0).draft_tokens.empty());
  BatchLoop lengths_2_to_4(Config(16, 4, 32));
  Add(lengths_2_to_4, prompt, 3);
  Step(lengths_2_to_4, {2});
  EXPECT_EQ(lengths_2_to_4.Schedule(0).draft_tokens, (I32{9, 8, 1}));
}

}  // namespace
}  // namespace paste
