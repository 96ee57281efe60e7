// Exact tests of the goodput rule for draft lengths (paste/draft_policy.h) and of BatchLoop
// applying it: lengths for flat, per-row and mixed step costs, the acceptance record a commit
// leaves (verified drafts, and a cut proposal scored by the committed token), and refused
// cost tables.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "paste/batch_loop.h"
#include "paste/draft_policy.h"
#include "paste/errors.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;
using F64 = std::vector<double>;

I32 Lengths(const F64& costs, int32_t base_rows, int32_t samplers, const F64& acceptance,
            const I32& proposed) {
  I32 out(proposed.size(), -1);
  ChooseDraftLengths(costs, base_rows, samplers, acceptance.data(), proposed.data(),
                     static_cast<int32_t>(proposed.size()), out.data());
  return out;
}

TEST(DraftPolicy, StepCostReadsTheTableAndExtendsItsLastSlope) {
  const F64 costs{1.0, 1.5, 2.5};
  EXPECT_DOUBLE_EQ(StepCost(costs, 1), 1.0);
  EXPECT_DOUBLE_EQ(StepCost(costs, 3), 2.5);
  EXPECT_DOUBLE_EQ(StepCost(costs, 5), 4.5);  // 2.5 + 2 * (2.5 - 1.5)
  EXPECT_DOUBLE_EQ(StepCost({2.0}, 3), 6.0);  // one entry: cost per row
  EXPECT_DOUBLE_EQ(StepCost({1.0, 0.5}, 4), 0.5);  // a falling end never extends downwards
}

TEST(DraftPolicy, FlatCostKeepsEveryDraft) {
  EXPECT_EQ(Lengths({1, 1, 1, 1}, 2, 2, {0.5, 0.1}, {3, 2}), (I32{3, 2}));
}

TEST(DraftPolicy, RowsThatCostAStepKeepNoDraft) {
  // G(0) = 1/1; G(1) = 1.9/2: even a 90% draft loses.
  EXPECT_EQ(Lengths({1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, {0.9}, {4}), (I32{0}));
}

TEST(DraftPolicy, CheapRowsKeepTheDraftsWorthTheirRow) {
  // Row cost 0.1: G = 1, 1.5/1.1, 1.75/1.2 (best), 1.875/1.3, ...
  EXPECT_EQ(Lengths({1, 1.1, 1.2, 1.3, 1.4, 1.5}, 1, 1, {0.5}, {4}), (I32{2}));
  // Two sequences, row cost 0.2 from C(2) = 1.2: the gains in order .9 .81 .729 .3 ...; the
  // goodput peaks after the third (4.439 / 1.8), all of them the sure sequence's.
  EXPECT_EQ(Lengths({1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4}, 2, 2, {0.9, 0.3}, {3, 3}),
            (I32{3, 0}));
  EXPECT_EQ(Lengths({1, 1.1}, 1, 1, {0.5}, {0}), (I32{0}));  // nothing proposed
}

TEST(DraftPolicy, EqualGainsGoToTheEarlierSequence) {
  // Gains .5 and .5, one per sequence. C = 1, 1, 1.2, 1.8 from 2 rows: G(0) = 2,
  // G(1) = 2.5/1.2 = 2.083 (best), G(2) = 3/1.8: one draft, the first sequence's.
  EXPECT_EQ(Lengths({1, 1, 1.2, 1.8}, 2, 2, {0.5, 0.5}, {1, 1}), (I32{1, 0}));
  // Row cost 0.2 from C(2) = 1.2: G = 1.667, 1.786, 1.875: both.
  EXPECT_EQ(Lengths({1, 1.2, 1.4, 1.6}, 2, 2, {0.5, 0.5}, {1, 1}), (I32{1, 1}));
  // Row cost 0.3: G = 2/1.2 = 2.5/1.5 = 3/1.8, all equal: a tie keeps fewer drafts.
  EXPECT_EQ(Lengths({1, 1.2, 1.5, 1.8}, 2, 2, {0.5, 0.5}, {1, 1}), (I32{0, 0}));
}

BatchLoopConfig Config(const F64& costs) {
  BatchLoopConfig c;
  c.num_blocks = 16;
  c.block_size = 4;
  c.max_num_batched_tokens = 32;
  c.max_num_seqs = 8;
  c.max_model_len = 64;
  c.draft_step_costs = costs;
  return c;
}

int64_t Add(BatchLoop& loop, const I32& tokens) {
  SeqParams p;
  p.max_tokens = 20;
  p.num_draft_tokens = 3;
  return loop.AddSequence(tokens.data(), static_cast<int32_t>(tokens.size()), p);
}

void Commit(BatchLoop& loop, int32_t sampled, int32_t accepted) {
  loop.Commit(&sampled, 1, &accepted, 1);
}

TEST(DraftPolicy, TheLoopCutsDraftsByCostAndTheAcceptanceRecord) {
  // Row cost 0.05 of a step: at acceptance 1/2, 3 drafts (G = 1.875/1.15 is the best).
  BatchLoop loop(Config({1.0, 1.05, 1.1, 1.15, 1.2}));
  const int64_t a = Add(loop, {1, 2, 3, 9, 1, 2});
  loop.Schedule(0);
  Commit(loop, 3, 0);  // prefill: no drafts, no record
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 0.5);
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{9, 1, 2}));
  Commit(loop, 9, 0);  // all three rejected: hits 0, trials 1
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 1.0 / 3.0);
  // Suffix "2 3 9" proposes "1 2 3"; at 1/3: G(2) = 1.444/1.1 beats G(3) = 1.481/1.15.
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{1, 2}));
  Commit(loop, 3, 2);  // both accepted: hits 0.9*0 + 2, trials 0.9*1 + 2
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 3.0 / 4.9);
  EXPECT_EQ(loop.stats().num_draft_tokens, 5);
}

TEST(DraftPolicy, RowsThatCostAStepStopTheLoopDrafting) {
  BatchLoop loop(Config({1, 2, 3, 4, 5}));
  const int64_t a = Add(loop, {1, 2, 3, 9, 1, 2});
  loop.Schedule(0);
  Commit(loop, 3, 0);
  EXPECT_TRUE(loop.Schedule(0).draft_tokens.empty());  // "9 1 2" proposed, none worth it
  EXPECT_EQ(loop.last_plan().sample_indptr, (I32{0, 1}));
  Commit(loop, 9, 0);  // the cut proposal's first token was right: a one-draft hit
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 2.0 / 3.0);
  EXPECT_TRUE(loop.Schedule(0).draft_tokens.empty());  // "1 2 3" proposed, cut again
  Commit(loop, 5, 0);  // its first token 1 was wrong: hits 0.9, trials 1.9
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 1.9 / 3.9);
  EXPECT_EQ(loop.stats().num_draft_tokens, 0);
}

TEST(DraftPolicy, ExplicitDraftsAreNeverCut) {
  BatchLoop loop(Config({1, 2, 3, 4, 5}));
  const int64_t a = Add(loop, {5, 6, 7});
  loop.Schedule(0);
  Commit(loop, 8, 0);
  const std::vector<int64_t> ids{a};
  const I32 indptr{0, 2}, tokens{40, 41};
  loop.SetDrafts(ids.data(), 1, indptr.data(), tokens.data());
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{40, 41}));
  Commit(loop, 9, 1);
  EXPECT_DOUBLE_EQ(loop.GetSeqInfo(a).draft_acceptance, 0.5);  // n-gram record only
}

TEST(DraftPolicy, TheCostTableCanBeReplacedBetweenSteps) {
  BatchLoop loop(Config({1, 2, 3, 4, 5}));
  Add(loop, {1, 2, 3, 9, 1, 2});
  loop.Schedule(0);
  Commit(loop, 3, 0);
  loop.SetDraftStepCosts({});  // off: the whole proposal
  EXPECT_EQ(loop.Schedule(0).draft_tokens, (I32{9, 1, 2}));
  EXPECT_THROW(loop.SetDraftStepCosts({1.0}), InvalidArgument);  // a step is in flight
  Commit(loop, 5, 0);
  EXPECT_THROW(loop.SetDraftStepCosts({1.0, -2.0}), InvalidArgument);
  EXPECT_TRUE(loop.config().draft_step_costs.empty());  // the refused table changed nothing
}

TEST(DraftPolicy, BadCostTablesAreRefused) {
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW({ BatchLoop loop(Config({1.0, bad})); }, InvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace paste
